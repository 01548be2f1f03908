#!/usr/bin/env python3
"""Checks that shared libraries export no C++ runtime of their own.

    check_exports.py LIBRARY...

A toolchain that links libstdc++ (or libgcc) statically puts the runtime inside the
library; exported, its strong definitions (typeinfo, the string representation, locale
ids, __cxa_throw) win over the process's own runtime in whatever loads the library
later, which then frees foreign pointers and cannot catch exceptions. The shared
libraries link with -Wl,--exclude-libs,ALL so that none are exported; this fails, naming
them, if any are. Weak definitions (templates and inline functions instantiated by the
library's own code) are fine: every copy is the same.
"""

import re
import subprocess
import sys

RUNTIME = re.compile(
    r"^(std::|__cxxabiv1::|__gnu_cxx::|__cxa_|__gxx_personality|_Unwind_|typeinfo for std::|"
    r"typeinfo name for std::|vtable for std::|vtable for __cxxabiv1::|VTT for std::)"
)
STRONG = set("TDBR")  # code, data, bss, read-only data; W/V/u are weak or unique


def runtime_exports(library):
    listing = subprocess.run(
        ["nm", "--dynamic", "--defined-only", "--demangle", library],
        capture_output=True, text=True, check=True,
    ).stdout
    found = []
    for line in listing.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[1] in STRONG and RUNTIME.match(parts[2]):
            found.append(parts[2])
    return found


def main():
    failed = False
    for library in sys.argv[1:]:
        found = runtime_exports(library)
        if found:
            failed = True
            print(f"{library} exports {len(found)} strong definitions of the C++ runtime, e.g.:")
            for name in found[:10]:
                print("    " + name)
            print("  Link it with -Wl,--exclude-libs,ALL (meson.build's shared_library_link_args).")
        else:
            print(f"{library}: no C++ runtime exported")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
