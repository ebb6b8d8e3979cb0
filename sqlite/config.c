/* Completing the user's config text. A table knows its record width and a query its k and
 * radius, so users may write {"focus": ...} alone; this adds "version" and "record_bits" (and
 * "metric" for the Tanimoto functions) and applies top_k / max_distance / min_similarity. It
 * only splits the top-level object into members: anything it
 * does not understand is passed to jitson_compile unchanged, whose strict parser names the JSON
 * Pointer of what is wrong. */
#include <stdio.h>
#include <string.h>

#include "jitson_sqlite.h"

#define MAX_MEMBERS 64

typedef struct {
  const char *key; /* between the quotes, raw */
  size_t key_len;
  const char *begin; /* the whole member text: "key": value */
  const char *value;
  const char *end;
} member;

static const char *skip_ws(const char *p, const char *end) {
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) ++p;
  return p;
}

static const char *skip_string(const char *p, const char *end) {
  for (++p; p < end; ++p) {
    if (*p == '\\') {
      if (++p == end) return NULL;
    } else if (*p == '"') {
      return p + 1;
    }
  }
  return NULL;
}

/* Skips one value; nested objects and arrays are matched bracket by bracket (strings aware). */
static const char *skip_value(const char *p, const char *end) {
  if (p == end) return NULL;
  if (*p == '"') return skip_string(p, end);
  if (*p == '{' || *p == '[') {
    int depth = 0;
    while (p < end) {
      if (*p == '"') {
        p = skip_string(p, end);
        if (!p) return NULL;
        continue;
      }
      if (*p == '{' || *p == '[') ++depth;
      if (*p == '}' || *p == ']') {
        if (--depth == 0) return p + 1;
      }
      ++p;
    }
    return NULL;
  }
  const char *start = p;
  while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' && *p != '\n' &&
         *p != '\r')
    ++p;
  return p == start ? NULL : p;
}

/* Splits the top-level object; -1 when the text is not a plain object with members. */
static int split(const char *text, size_t len, member *m) {
  const char *end = text + len, *p = skip_ws(text, end);
  if (p == end || *p != '{') return -1;
  p = skip_ws(p + 1, end);
  int n = 0;
  if (p < end && *p == '}') return skip_ws(p + 1, end) == end ? 0 : -1;
  for (;;) {
    if (n == MAX_MEMBERS || p == end || *p != '"') return -1;
    member *cur = &m[n++];
    cur->begin = p;
    const char *q = skip_string(p, end);
    if (!q) return -1;
    cur->key = p + 1;
    cur->key_len = (size_t)(q - p - 2);
    p = skip_ws(q, end);
    if (p == end || *p != ':') return -1;
    p = skip_ws(p + 1, end);
    cur->value = p;
    p = skip_value(p, end);
    if (!p) return -1;
    cur->end = p;
    p = skip_ws(p, end);
    if (p < end && *p == ',') {
      p = skip_ws(p + 1, end);
      continue;
    }
    if (p < end && *p == '}') return skip_ws(p + 1, end) == end ? n : -1;
    return -1;
  }
}

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Whether the JSON string [p, end) (quotes included) decodes to plain, an ASCII text: escapes
 * count as what they stand for ("tanim\u006fto" is "tanimoto"), as for the strict parser. */
static int string_is(const char *p, const char *end, const char *plain) {
  if (end - p < 2 || *p != '"' || end[-1] != '"') return 0;
  for (const char *q = p + 1, *stop = end - 1; q < stop;) {
    unsigned ch = (unsigned char)*q++;
    if (ch == '\\') {
      if (q == stop) return 0;
      static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
      const char e = *q++;
      const char *simple = e ? strchr(from, e) : NULL;
      if (simple) {
        ch = (unsigned char)to[simple - from];
      } else if (e == 'u' && stop - q >= 4) {
        ch = 0;
        for (int i = 0; i < 4; ++i) {
          const int v = hex_digit(*q++);
          if (v < 0) return 0;
          ch = ch * 16 + (unsigned)v;
        }
      } else {
        return 0;
      }
    }
    if (!*plain || ch != (unsigned char)*plain++) return 0;
  }
  return !*plain;
}

static int key_is(const member *m, const char *name) {
  return string_is(m->key - 1, m->key + m->key_len + 1, name);
}

/* A plain non-negative integer literal, else -1 (the strict parser judges the rest). */
static int64_t int_value(const member *m) {
  const char *p = m->value;
  if (p == m->end) return -1;
  int64_t v = 0;
  for (; p < m->end; ++p) {
    if (*p < '0' || *p > '9' || v > INT64_MAX / 10 - 10) return -1;
    v = v * 10 + (*p - '0');
  }
  return v;
}

jsq_config_fields jsq_config_read(const char *text, size_t len) {
  jsq_config_fields f = {-1, -1, -1, JITSON_METRIC_HAMMING, 0};
  member m[MAX_MEMBERS];
  int n = text ? split(text, len, m) : -1;
  for (int i = 0; i < n; ++i) {
    if (key_is(&m[i], "record_bits")) f.record_bits = int_value(&m[i]);
    if (key_is(&m[i], "top_k")) f.top_k = int_value(&m[i]);
    if (key_is(&m[i], "max_distance")) f.max_distance = int_value(&m[i]);
    if (key_is(&m[i], "metric") && string_is(m[i].value, m[i].end, "tanimoto"))
      f.metric = JITSON_METRIC_TANIMOTO;
    if (key_is(&m[i], "min_similarity")) f.has_min_similarity = 1;
  }
  return f;
}

char *jsq_config_text(const char *text, size_t len, const jsq_config_edit *edit) {
  if (!text) {
    text = "{}";
    len = 2;
  }
  member m[MAX_MEMBERS];
  const int n = split(text, len, m);
  if (n < 0) return sqlite3_mprintf("%.*s", (int)len, text);
  int has_version = 0, has_bits = 0, has_metric = 0;
  for (int i = 0; i < n; ++i) {
    has_version |= key_is(&m[i], "version");
    has_bits |= key_is(&m[i], "record_bits");
    has_metric |= key_is(&m[i], "metric");
  }
  sqlite3_str *s = sqlite3_str_new(NULL);
  sqlite3_str_appendall(s, "{");
  const char *sep = "";
  if (!has_version) {
    sqlite3_str_appendall(s, "\"version\": 1");
    sep = ", ";
  }
  if (!has_bits) {
    sqlite3_str_appendf(s, "%s\"record_bits\": %u", sep, edit->record_bits);
    sep = ", ";
  }
  if (!has_metric && edit->metric) {
    sqlite3_str_appendf(s, "%s\"metric\": \"%s\"", sep, edit->metric);
    sep = ", ";
  }
  if (edit->top_k >= 0) {
    sqlite3_str_appendf(s, "%s\"top_k\": %lld", sep, (long long)edit->top_k);
    sep = ", ";
  }
  if (edit->max_distance >= 0 && !edit->drop_max_distance) {
    sqlite3_str_appendf(s, "%s\"max_distance\": %lld", sep, (long long)edit->max_distance);
    sep = ", ";
  }
  if (edit->min_similarity && !edit->drop_min_similarity) {
    sqlite3_str_appendf(s, "%s\"min_similarity\": %s", sep, edit->min_similarity);
    sep = ", ";
  }
  for (int i = 0; i < n; ++i) {
    if (edit->top_k >= 0 && key_is(&m[i], "top_k")) continue;
    if ((edit->max_distance >= 0 || edit->drop_max_distance) && key_is(&m[i], "max_distance"))
      continue;
    if ((edit->min_similarity || edit->drop_min_similarity) && key_is(&m[i], "min_similarity"))
      continue;
    sqlite3_str_appendf(s, "%s%.*s", sep, (int)(m[i].end - m[i].begin), m[i].begin);
    sep = ", ";
  }
  sqlite3_str_appendall(s, "}");
  return sqlite3_str_finish(s);
}

int jsq_config_check_bits(const jsq_config_fields *f, uint32_t bits, const char *what, char *err,
                          size_t err_len) {
  if (f->record_bits < 0 || f->record_bits == (int64_t)bits) return 0;
  snprintf(err, err_len,
           "jitson config: /record_bits: %lld does not match %s (%u bits); leave record_bits "
           "out of the config",
           (long long)f->record_bits, what, bits);
  return -1;
}
