#!/usr/bin/env python3
"""The layer rule: arrows point down.

The library's folders are its layers, lowest first:

    core < backend < handles < {registry, ipc} < resource < stream_ordered < {buffer, interop,
                                                                             recording}

and the same folders exist in vmm_pmr/include/vmm_pmr/ (public) and vmm_pmr/src/
(private). A file may include headers of its own layer and of lower ones; layers of the
same rank (registry and ipc; buffer and interop) are neighbours and do not include each
other. The umbrella headers at the top of include/vmm_pmr/ may include anything of the
library; libvmm_pmr_testing (vmm_pmr_testing/) may include the library but the library
never includes it. A public header never includes a private one.

Usage: check_layers.py [SOURCE_ROOT]     exits 1 and lists every violation
       check_layers.py --self-test       plants violations in a scratch tree, expects them found
"""
import pathlib
import re
import sys
import tempfile

RANKS = {
    "core": 0,
    "backend": 1,
    "handles": 2,
    "registry": 3,
    "ipc": 3,
    "resource": 4,
    "stream_ordered": 5,
    "buffer": 6,
    "interop": 6,
    "recording": 6,
}
UMBRELLA, TESTING = "umbrella", "testing"


def layer_order():
    """"core < backend < handles < {registry, ipc} < ...", from RANKS."""
    groups = {}
    for name, rank in RANKS.items():
        groups.setdefault(rank, []).append(name)
    return " < ".join(names[0] if len(names) == 1 else "{" + ", ".join(names) + "}"
                      for _, names in sorted(groups.items()))
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.MULTILINE)
SOURCE_SUFFIXES = {".hpp", ".cpp", ".cu", ".h"}


def layer_of_public(relative):
    """The layer of a path relative to include/ ("vmm_pmr/core/error.hpp")."""
    parts = pathlib.PurePosixPath(relative).parts
    if len(parts) < 2 or parts[0] != "vmm_pmr":
        return None
    if len(parts) == 2:
        return UMBRELLA
    if parts[1] == "testing":
        return TESTING
    return parts[1]


def layer_of_private(relative):
    """The layer of a path relative to vmm_pmr/src/ ("stream_ordered/pool/block.hpp")."""
    return pathlib.PurePosixPath(relative).parts[0]


def check(root):
    root = pathlib.Path(root)
    public_root = root / "vmm_pmr" / "include"
    private_root = root / "vmm_pmr" / "src"
    testing_root = root / "vmm_pmr_testing"
    problems = []
    missing = [str(folder) for folder in (public_root, private_root) if not folder.is_dir()]
    if missing:
        return [f"no library sources at {', '.join(missing)}: pass the root of a vmm_pmr "
                f"checkout"], 0

    def files_under(folder):
        return sorted(p for p in folder.rglob("*") if p.suffix in SOURCE_SUFFIXES)

    sources = [(p, layer_of_public(p.relative_to(public_root).as_posix()), "public")
               for p in files_under(public_root)]
    sources += [(p, layer_of_private(p.relative_to(private_root).as_posix()), "private")
                for p in files_under(private_root)]
    sources += [(p, TESTING, "testing") for p in files_under(testing_root)]

    for path, layer, kind in sources:
        where = path.relative_to(root).as_posix()
        if layer not in RANKS and layer not in (UMBRELLA, TESTING):
            problems.append(f"{where}: folder '{layer}' is no layer; the layers are "
                            f"{', '.join(RANKS)}")
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for match in INCLUDE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            target = match.group(1)
            if target.startswith("vmm_pmr/"):
                target_layer = layer_of_public(target)
                if not (public_root / target).exists() and target_layer != TESTING:
                    problems.append(f"{where}:{line}: includes {target}, which does not exist")
                    continue
            elif (private_root / target).exists() and kind != "testing":
                if kind == "public":
                    problems.append(f"{where}:{line}: a public header includes the private "
                                    f"{target}; move what it needs into include/ or detail/")
                    continue
                target_layer = layer_of_private(target)
            else:
                continue  # the standard library, fmt, cuda.h, a header beside the file
            if target_layer == TESTING and layer != TESTING:
                problems.append(f"{where}:{line}: includes the test double {target}; "
                                f"libvmm_pmr must hold no test code")
            elif layer in (UMBRELLA, TESTING) or target_layer == layer:
                continue
            elif target_layer == UMBRELLA:
                problems.append(f"{where}:{line}: includes the umbrella header {target}; "
                                f"include what it uses instead")
            elif RANKS[target_layer] >= RANKS[layer]:
                relation = "a neighbour" if RANKS[target_layer] == RANKS[layer] else "a higher layer"
                problems.append(f"{where}:{line}: {layer} includes {target}, from {relation} "
                                f"({target_layer}); arrows point down: "
                                f"{layer_order()}")
    return problems, len(sources)


def self_test():
    with tempfile.TemporaryDirectory() as scratch:
        root = pathlib.Path(scratch)
        files = {
            "vmm_pmr/include/vmm_pmr/core/error.hpp": "",
            "vmm_pmr/include/vmm_pmr/core/upward.hpp": '#include "vmm_pmr/resource/vmm_resource.hpp"\n',
            "vmm_pmr/include/vmm_pmr/registry/neighbour.hpp": '#include "vmm_pmr/ipc/ipc_channel.hpp"\n',
            "vmm_pmr/include/vmm_pmr/ipc/ipc_channel.hpp": '#include "vmm_pmr/core/error.hpp"\n',
            "vmm_pmr/include/vmm_pmr/resource/vmm_resource.hpp": '#include "vmm_pmr/core/error.hpp"\n',
            "vmm_pmr/include/vmm_pmr/resource/private_use.hpp": '#include "resource/zero.hpp"\n',
            "vmm_pmr/src/resource/zero.hpp": "",
            "vmm_pmr/src/resource/double.cpp": '#include "vmm_pmr/testing/counting_backend.hpp"\n',
            "vmm_pmr/src/handles/fine.cpp": '#include "vmm_pmr/core/error.hpp"\n#include <vector>\n',
            "vmm_pmr/include/vmm_pmr/vmm_pmr.hpp": '#include "vmm_pmr/resource/vmm_resource.hpp"\n',
            "vmm_pmr_testing/include/vmm_pmr/testing/counting_backend.hpp":
                '#include "vmm_pmr/resource/vmm_resource.hpp"\n',
        }
        for name, text in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)
        problems, _ = check(root)
        expected = ["core/upward.hpp:1: core includes vmm_pmr/resource/vmm_resource.hpp, from a higher layer",
                    "registry/neighbour.hpp:1: registry includes vmm_pmr/ipc/ipc_channel.hpp, from a neighbour",
                    "resource/private_use.hpp:1: a public header includes the private",
                    "resource/double.cpp:1: includes the test double"]
        missing = [e for e in expected if not any(e in p for p in problems)]
        if missing or len(problems) != len(expected):
            print("self-test FAILED\n expected:\n  " + "\n  ".join(expected) +
                  "\n found:\n  " + "\n  ".join(problems))
            return 1
        nowhere, _ = check(root / "nowhere")
        if not nowhere or "no library sources" not in nowhere[0]:
            print(f"self-test FAILED: a folder without sources passed ({nowhere})")
            return 1
        print(f"self-test: all {len(expected)} planted violations found, nothing else; "
              f"a folder without sources fails")
        return 0


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    root = argv[1] if len(argv) > 1 else pathlib.Path(__file__).resolve().parent.parent
    problems, count = check(root)
    for problem in problems:
        print(problem)
    if problems:
        print(f"layer rule: {len(problems)} violation(s) in {count} files")
        return 1
    print(f"layer rule: {count} files, every include points down")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
