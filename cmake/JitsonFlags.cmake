# Warning flags for jitson's own targets, and the per-ISA flags of kernel files.
set(JITSON_WARNINGS -Wall -Wextra)
if(JITSON_WERROR)
  list(APPEND JITSON_WARNINGS -Werror)
endif()

function(jitson_target_warnings target)
  target_compile_options(${target} PRIVATE ${JITSON_WARNINGS})
endfunction()

# One flag set per ISA name, and nothing more than what dispatch checks before calling the code
# (runtime/cpu.cpp for the tiers, the dispatchers for the extensions): a flag enabled here lets the
# compiler use that extension anywhere in the file, so a file of one ISA holds only code that is
# dispatched on all of that ISA's features. tests/isa_audit.py checks both these sets and the built
# library's instructions against the same rules.
#   avx2        Isa::avx2: AVX2 POPCNT FMA BMI2 F16C
#   avx512      Isa::avx512: the avx2 set + AVX512F/BW/VL/DQ/VPOPCNTDQ
#   avx512vnni  the avx512 set + AVX512_VNNI, called only when cpu_features().avx512vnni
#   avx512bf16  the avx512 set + AVX512_BF16, called only when cpu_features().avx512bf16
#   amxbf16     the avx512 set + AMX-TILE/AMX-BF16, called only when AMX-BF16 is granted
#   amxint8     the avx512 set + AMX-TILE/AMX-INT8, called only when AMX-INT8 is granted
set(JITSON_FLAGS_AVX2 -mavx2 -mfma -mbmi2 -mpopcnt -mf16c)
set(JITSON_FLAGS_AVX512 ${JITSON_FLAGS_AVX2} -mavx512f -mavx512bw -mavx512vl -mavx512dq
    -mavx512vpopcntdq)
set(JITSON_FLAGS_AVX512VNNI ${JITSON_FLAGS_AVX512} -mavx512vnni)
set(JITSON_FLAGS_AVX512BF16 ${JITSON_FLAGS_AVX512} -mavx512bf16)
set(JITSON_FLAGS_AMXBF16 ${JITSON_FLAGS_AVX512} -mamx-tile -mamx-bf16)
set(JITSON_FLAGS_AMXINT8 ${JITSON_FLAGS_AVX512} -mamx-tile -mamx-int8)
set(JITSON_ISA_NAMES avx2 avx512 avx512vnni avx512bf16 amxbf16 amxint8)

# Gives each source the flags of the ISA its name ends with (<family>_<isa>.cpp, e.g.
# dot_i8_avx512vnni.cpp); other sources (scalar twins, drivers) get none. A name that looks like
# an ISA but is not one is an error rather than a silently unflagged file.
function(jitson_isa_flags)
  foreach(src IN LISTS ARGN)
    get_filename_component(name ${src} NAME_WE)
    string(REGEX MATCH "[^_]+$" isa "${name}")
    if(isa IN_LIST JITSON_ISA_NAMES)
      string(TOUPPER ${isa} upper)
      set_source_files_properties(${src} PROPERTIES COMPILE_OPTIONS "${JITSON_FLAGS_${upper}}")
    elseif(isa MATCHES "^(avx|amx|sse)")
      message(FATAL_ERROR "${src}: unknown ISA suffix '${isa}' (known: ${JITSON_ISA_NAMES})")
    endif()
  endforeach()
endfunction()
