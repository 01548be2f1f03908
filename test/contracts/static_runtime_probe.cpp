// A shared module that throws and catches through the C++ runtime, linked with
// -static-libstdc++ (test/meson.build): scripts/check_exports.py then shows that the
// shared libraries' link arguments keep a runtime linked in that way from being exported.
#include <stdexcept>
#include <string>

extern "C" int static_runtime_probe(int n) {
  try {
    if (n != 0) throw std::runtime_error(std::string(40, static_cast<char>(n)));
  } catch (const std::exception& error) {
    return error.what()[0];
  }
  return 0;
}
