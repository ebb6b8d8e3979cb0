/* What a hit says under its kernel's metric (jitson_sqlite.h): one place decodes Tanimoto hits
 * and writes the distance and similarity columns, for the scalar functions, jitson0 and
 * jitson_topk alike. */
#include <math.h>
#include <stdio.h>

#include "jitson_sqlite.h"

jsq_score jsq_score_of(int metric, const jitson_hit *hit) {
  jsq_score s = {(int64_t)hit->distance, -1.0};
  if (metric == JITSON_METRIC_TANIMOTO) {
    s.distance = -1;
    jitson_tanimoto_of(hit, NULL, NULL, &s.similarity);
  }
  return s;
}

void jsq_result_distance(sqlite3_context *ctx, jsq_score s) {
  if (s.similarity >= 0)
    sqlite3_result_double(ctx, jsq_jaccard_distance(s.similarity));
  else if (s.distance >= 0)
    sqlite3_result_int64(ctx, s.distance);
}

void jsq_result_similarity(sqlite3_context *ctx, jsq_score s) {
  if (s.similarity >= 0) sqlite3_result_double(ctx, s.similarity);
}

/* T as a double is within 2^-54 of c / u, and 1 - T within 2^-53 of its exact value; lo * 1e15
 * is within 0.5 of the real product. A margin of 4e-15 (n less 4 below) covers all three with room
 * to spare, while no two similarities (fractions with denominators <= 65,536) are closer than
 * 2.3e-10: the kernel lets through at most the rows at the one similarity next below the bound. */
int jsq_similarity_floor(double lo, char *out, size_t out_len) {
  if (!(lo > 0)) return 0; /* also NaN */
  double n = floor((lo < 1 ? lo : 1) * 1e15) - 4;
  if (n <= 0) return 0;
  snprintf(out, out_len, "0.%015lld", (long long)n);
  return 1;
}
