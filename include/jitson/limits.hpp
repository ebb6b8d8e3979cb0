// The limits of every input jitson reads: one place, so the config parser, the planner, the
// hybrid parser, the engine and the command all enforce (and document) the same numbers.
#pragma once

#include <cstddef>
#include <cstdint>

namespace jitson {

// Scan config (configs/scan.schema.json).
inline constexpr uint32_t kMinRecordBits = 64;
inline constexpr uint32_t kMaxRecordBits = 65536;
inline constexpr uint32_t kMaxTopK = 1000000;
inline constexpr uint32_t kMaxPrefetchRecords = 64;

// Largest config text (scan config, engine options, hybrid config) jitson accepts, in bytes. A
// real scan config is under 1 KiB even with a focus list of every bit of a 65,536-bit record
// written out (about 440 KiB); the cap bounds what a hostile or mistaken input (a device file,
// a megabyte of names) can make the parser, the engine's text cache or the command allocate.
inline constexpr size_t kMaxConfigBytes = size_t{1} << 20;

}  // namespace jitson
