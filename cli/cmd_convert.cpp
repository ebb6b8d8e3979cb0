// jitson convert: between the jfp file format, headerless raw records and hex text, streaming.
#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "common.hpp"
#include "jitson/database.hpp"
#include "jitson/layout.hpp"
#include "jitson/popcount.hpp"

namespace jitson::cli {
namespace {

struct ConvertOptions {
  std::string in, out;
  std::string from, to;
  std::optional<uint32_t> bits, raw_bits;
  uint32_t block_records = kDefaultBlockRecords;
  bool block_records_given = false;
  std::string order = "none";
};

// Where the records come from: a mapped file (jfp, raw) or hex text decoded in one pass.
struct Source {
  RecordSet set;
  uint64_t count = 0;
  uint32_t record_bits = 0;
};

Source open_source(const ConvertOptions &o, RecordFormat from) {
  Source s;
  std::optional<uint32_t> bits = o.raw_bits ? o.raw_bits : o.bits;
  std::string bits_source = o.raw_bits
                                ? fmt::format("--raw-bits {}", *o.raw_bits)
                                : (o.bits ? fmt::format("--bits {}", *o.bits) : std::string());
  if (from == RecordFormat::hex) {
    HexRecords hex = read_hex_records(o.in, bits, bits_source);
    s.set.decoded = std::move(hex.bytes);
    s.set.record_bits = hex.record_bits;
    s.set.view = DatabaseView::rows(s.set.decoded.data(), hex.count, hex.record_bits / 8);
  } else {
    s.set = load_records(o.in, from, bits, false, bits_source);
    if (from == RecordFormat::jfp && o.bits && *o.bits != s.set.record_bits)
      throw InputError(
          fmt::format("{}: records are {} bits, not --bits {}", o.in, s.set.record_bits, *o.bits));
  }
  if (s.set.file && s.set.file->popcount_section()) {
    // A popcount-ordered file converts in its records' original order: positions are not
    // indices (docs/FORMAT.md), and a round trip through --order popcount gives the file back.
    std::optional<PopcountOrder> order;
    try {
      order.emplace(PopcountOrder::of_file(*s.set.file));
    } catch (const Error &e) {
      throw InputError(e.what());
    }
    const DatabaseView sorted = s.set.view;
    std::vector<uint8_t> rows(sorted.n_records * sorted.record_bytes);
    const std::span<const uint64_t> index = order->original_index();
    for (uint64_t p = 0; p < sorted.n_records; ++p) {
      std::memcpy(&rows[index[p] * sorted.record_bytes], sorted.record(p), sorted.record_bytes);
    }
    s.set.decoded = std::move(rows);
    s.set.view = DatabaseView::rows(s.set.decoded.data(), sorted.n_records, sorted.record_bytes);
  }
  s.count = s.set.view.n_records;
  s.record_bits = s.set.record_bits;
  return s;
}

// Hands the records to `sink` in chunks of about 1 MiB.
template <typename Sink>
void for_each_chunk(Source &s, Sink &&sink) {
  const size_t record_bytes = s.record_bits / 8;
  const uint64_t chunk_records = std::max<uint64_t>(1, (size_t{1} << 20) / record_bytes);
  ProgressBar progress(s.count, "records");
  const DatabaseView view = s.set.view;
  if (view.layout == Layout::blocked) {
    // Whole blocks back to rows, about 1 MiB at a time.
    const uint64_t B = view.block_records;
    const uint64_t step = std::max<uint64_t>(1, chunk_records / B) * B;
    std::vector<uint8_t> rows(std::min<uint64_t>(step, std::max<uint64_t>(s.count, 1)) *
                              record_bytes);
    for (uint64_t begin = 0; begin < s.count; begin += step) {
      const uint64_t n = std::min(step, s.count - begin);
      for (uint64_t i = 0; i < n; i += B) {
        block_to_rows(view.data + (begin + i) * record_bytes, std::min<uint64_t>(B, n - i),
                      uint32_t(record_bytes), uint32_t(B), rows.data() + i * record_bytes);
      }
      sink(rows.data(), n);
      progress.update(begin + n);
    }
  } else {
    for (uint64_t begin = 0; begin < s.count; begin += chunk_records) {
      uint64_t n = std::min(chunk_records, s.count - begin);
      sink(view.record(begin), n);
      progress.update(begin + n);
    }
  }
  progress.finish();
}

int run_convert(const ConvertOptions &o) {
  if (o.bits) check_record_bits_option("--bits", *o.bits);
  if (o.raw_bits) {
    check_record_bits_option("--raw-bits", *o.raw_bits);
    if (!o.from.empty() && o.from != "raw")
      throw InputError(
          fmt::format("--raw-bits {} reads IN as headerless raw records, but --from says {}",
                      *o.raw_bits, o.from));
    if (o.bits && *o.bits != *o.raw_bits)
      throw InputError(fmt::format("--bits {} and --raw-bits {} disagree on the record size",
                                   *o.bits, *o.raw_bits));
  }
  // --raw-bits names the input format itself: no extension needed; a pipe can only be hex.
  RecordFormat from = o.raw_bits ? RecordFormat::raw
                      : o.from.empty() && names_stream(o.in)
                          ? RecordFormat::hex
                          : resolve_format(o.from, o.in, std::nullopt, "--from");
  // "blocked" is a jfp file whose payload has the blocked layout.
  const bool to_blocked = o.to == "blocked";
  RecordFormat to =
      to_blocked ? RecordFormat::jfp : resolve_format(o.to, o.out, std::nullopt, "--to");
  if (o.block_records_given && !to_blocked)
    throw InputError("--block-records applies only to --to blocked");
  const bool popcount_order = o.order == "popcount";
  if (popcount_order && (to != RecordFormat::jfp || to_blocked))
    throw InputError("--order popcount applies only to --to jfp (a row-major jfp file)");
  const uint32_t B = o.block_records;
  if (B < 8 || B > 4096 || (B & (B - 1)) != 0)
    throw InputError(fmt::format(
        "--block-records {} is not allowed; use a power of two from 8 to 4096 (default {})", B,
        kDefaultBlockRecords));
  if (o.in == o.out || same_file(o.in, o.out))
    throw InputError("IN and OUT name the same file; write to another path");
  // Before reading anything: a FIFO or device at OUT is refused, never replaced.
  const std::string out_path = output_path(o.out);

  Source source = open_source(o, from);
  const size_t record_bytes = source.record_bits / 8;
  install_cleanup_handlers();
  TemporaryFileGuard guard(temporary_path_for(out_path));

  if (to == RecordFormat::hex) {
    AtomicTextFile out(out_path);
    std::string text;
    for_each_chunk(source, [&](const uint8_t *records, uint64_t n) {
      text.clear();
      for (uint64_t i = 0; i < n; ++i) {
        append_hex(text, records + i * record_bytes, record_bytes);
        text += '\n';
      }
      out.write(text);
    });
    out.commit();
  } else if (popcount_order) {
    // Sorting needs every record at once: rows in memory (a mapped row-major input is used in
    // place), then the sorted records and the section written atomically.
    std::vector<uint8_t> rows;
    DatabaseView view = source.set.view;
    if (view.layout != Layout::row_major) {
      rows.reserve(source.count * record_bytes);
      for_each_chunk(source, [&](const uint8_t *records, uint64_t n) {
        rows.insert(rows.end(), records, records + n * record_bytes);
      });
      view = DatabaseView::rows(rows.data(), source.count, record_bytes);
    }
    try {
      PopcountOrder::write_file(out_path, view);
    } catch (const Error &e) {
      throw InputError(e.what());
    }
  } else if (to_blocked) {
    std::unique_ptr<FingerprintWriter> out;
    try {
      out = std::make_unique<FingerprintWriter>(out_path, source.record_bits, source.count,
                                                Layout::blocked, B, true);
    } catch (const Error &e) {
      throw InputError(e.what());
    }
    // Records gather into one block of rows; each full block (and the padded last one) is
    // written word-major.
    std::vector<uint8_t> pending(size_t(B) * record_bytes), block(size_t(B) * record_bytes);
    uint64_t in_block = 0;
    auto flush = [&] {
      rows_to_block(pending.data(), in_block, uint32_t(record_bytes), B, block.data());
      out->write(block.data(), block.size());
      in_block = 0;
    };
    for_each_chunk(source, [&](const uint8_t *records, uint64_t n) {
      while (n > 0) {
        const uint64_t take = std::min<uint64_t>(n, B - in_block);
        std::memcpy(pending.data() + in_block * record_bytes, records, take * record_bytes);
        in_block += take;
        records += take * record_bytes;
        n -= take;
        if (in_block == B) flush();
      }
    });
    if (in_block > 0) flush();
    out->commit();
  } else {
    std::unique_ptr<FingerprintWriter> out;
    try {
      out = std::make_unique<FingerprintWriter>(out_path, source.record_bits, source.count,
                                                Layout::row_major, 0, to == RecordFormat::jfp);
    } catch (const Error &e) {
      throw InputError(e.what());
    }
    for_each_chunk(
        source, [&](const uint8_t *records, uint64_t n) { out->write(records, n * record_bytes); });
    out->commit();
  }
  return kExitOk;
}

}  // namespace

void add_convert_command(CLI::App &app, Action &action) {
  auto o = std::make_shared<ConvertOptions>();
  CLI::App *sub = app.add_subcommand(
      "convert", "Convert records between the jfp file format, raw records and hex text");
  sub->add_option("IN", o->in,
                  "Input file; hex text may also be streamed from standard input or a pipe: "
                  "- or /dev/stdin")
      ->required();
  sub->add_option("OUT", o->out, "Output file (written atomically)")->required();
  sub->add_option("--from", o->from,
                  "Input format; default from the extension (.jfp; .raw, .bin; .hex, .txt)")
      ->check(CLI::IsMember({"jfp", "raw", "hex"}));
  sub->add_option("--to", o->to, "Output format; default from the extension")
      ->check(CLI::IsMember({"jfp", "raw", "hex", "blocked"}));
  sub->add_option("--block-records", o->block_records,
                  "Records per block for --to blocked: a power of two 8..4096 (default 64)")
      ->each([o](const std::string &) { o->block_records_given = true; });
  sub->add_option("--order", o->order,
                  "Record order of a jfp output: none (as read) or popcount (ascending popcount "
                  "with the popcount section, for Tanimoto's popcount bound; docs/FORMAT.md)")
      ->check(CLI::IsMember({"none", "popcount"}))
      ->capture_default_str();
  non_negative(
      sub->add_option("--bits", o->bits,
                      "Bits per record: required to read raw; checked against jfp and hex input"));
  non_negative(sub->add_option("--raw-bits", o->raw_bits,
                               "Read IN as headerless raw records of this many bits, whatever "
                               "its name (same as --from raw --bits N)"));
  sub->footer(
      "Formats: jfp = header + records (docs/FORMAT.md); raw = records only; hex = one record\n"
      "per line, lowercase hex, byte 0 first; blocked = jfp with the blocked (word-major)\n"
      "layout of docs/BLOCKED.md. Blocked jfp input is converted back to rows for the others.\n"
      "Examples:\n"
      "  jitson convert db.jfp db.hex\n"
      "  jitson convert records.bin db.jfp --from raw --bits 16384\n"
      "  jitson convert records.dat db.jfp --raw-bits 16384\n"
      "  cat db.hex | jitson convert - db.jfp --from hex\n"
      "  jitson convert db.jfp db-blocked.jfp --to blocked --block-records 64\n"
      "  jitson convert db-blocked.jfp db.jfp --to jfp\n"
      "  jitson convert db.jfp db-popcount.jfp --order popcount");
  sub->callback([o, &action] { action = [o] { return run_convert(*o); }; });
}

}  // namespace jitson::cli
