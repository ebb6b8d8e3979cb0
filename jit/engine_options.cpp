// EngineOptions::from_json: the engine options JSON of the C API and the command line, with the
// same strictness and error style as the scan config.
#include <string>

#include "jit/strict_json.hpp"
#include "jitson/engine.hpp"
#include "jitson/error.hpp"

namespace jitson {

EngineOptions EngineOptions::from_json(std::string_view json) {
  namespace sj = strict_json;
  EngineOptions options;
  // An empty text means "no options", like the C API's NULL; anything else must be an object.
  if (json.find_first_not_of(" \t\r\n") == std::string_view::npos) return options;

  const sj::Json root = sj::parse(json);
  sj::object_with_fields(root, "", {"threads", "cache_bytes", "isa", "jit", "wisdom"});
  if (auto it = root.find("threads"); it != root.end()) {
    options.threads = unsigned(sj::integer(*it, "/threads", 0, 1024));
  }
  if (auto it = root.find("cache_bytes"); it != root.end()) {
    // Upper end: 2^48 bytes, more than any address space we run in, well inside size_t.
    options.cache_bytes = size_t(sj::integer(*it, "/cache_bytes", 4096, uint64_t{1} << 48));
  }
  if (auto it = root.find("isa"); it != root.end()) {
    static constexpr Isa isas[] = {Isa::avx512, Isa::avx2, Isa::scalar};
    size_t i = sj::choice(*it, "/isa", {"auto", "avx512", "avx2", "scalar"});
    if (i == 0) {
      options.isa.reset();
    } else {
      Isa isa = isas[i - 1];
      if (!isa_supported(isa)) {
        throw ConfigError("/isa", std::string(isa_name(isa)) +
                                      " requested but this CPU supports at most " +
                                      isa_name(best_isa()) + "; use \"auto\" or an ISA up to " +
                                      isa_name(best_isa()));
      }
      options.isa = isa;
    }
  }
  if (auto it = root.find("jit"); it != root.end()) options.jit = sj::boolean(*it, "/jit");
  if (auto it = root.find("wisdom"); it != root.end()) {
    options.wisdom = sj::string(*it, "/wisdom");
    if (options.wisdom.empty()) throw ConfigError("/wisdom", "empty path; omit the field instead");
  }
  return options;
}

}  // namespace jitson
