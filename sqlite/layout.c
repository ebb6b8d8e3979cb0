/* The blocked layout of docs/FORMAT.md, for chunks that keep a blocked copy for the sweep. */
#include <string.h>

#include "jitson_sqlite.h"

void jsq_rows_to_blocked(const uint8_t *rows, uint32_t first, uint32_t n, uint32_t bytes,
                         uint32_t b, uint8_t *out) {
  const uint32_t words = bytes / 8;
  for (uint32_t i = first; i < first + n; ++i) {
    const uint8_t *rec = rows + (size_t)i * bytes;
    uint8_t *block = out + (size_t)(i / b) * b * bytes;
    for (uint32_t w = 0; w < words; ++w)
      memcpy(block + ((size_t)w * b + i % b) * 8, rec + (size_t)w * 8, 8);
  }
}
