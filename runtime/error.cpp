// escape_control: see jitson/error.hpp.
#include "jitson/error.hpp"

namespace jitson {

std::string escape_control(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    unsigned code;
    if (c < 0x20 || c == 0x7f) {
      code = c;
    } else if (c == 0xc2 && i + 1 < text.size() &&
               static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
               static_cast<unsigned char>(text[i + 1]) <= 0x9f) {
      code = static_cast<unsigned char>(text[++i]);  // U+0080..U+009F, encoded C2 80..C2 9F
    } else {
      out += char(c);
      continue;
    }
    switch (code) {
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += "\\u00";
        out += kHex[code >> 4];
        out += kHex[code & 15];
    }
  }
  return out;
}

}  // namespace jitson
