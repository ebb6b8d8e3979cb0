# Warning flags for jitson's own targets, and the per-ISA flags of kernel files.
set(JITSON_WARNINGS -Wall -Wextra)
if(JITSON_WERROR)
  list(APPEND JITSON_WARNINGS -Werror)
endif()

function(jitson_target_warnings target)
  target_compile_options(${target} PRIVATE ${JITSON_WARNINGS})
endfunction()

set(JITSON_FLAGS_AVX2 -mavx2 -mfma -mbmi2 -mpopcnt -mf16c)
set(JITSON_FLAGS_AVX512 -mavx2 -mfma -mbmi2 -mpopcnt -mf16c -mavx512f -mavx512bw -mavx512vl
    -mavx512dq -mavx512vpopcntdq -mavx512bitalg -mavx512vnni -mavx512bf16)

# Gives each source its ISA flags from its file name: *avx512*.cpp and *avx2*.cpp.
function(jitson_isa_flags)
  foreach(src IN LISTS ARGN)
    get_filename_component(name ${src} NAME)
    if(name MATCHES "avx512")
      set_source_files_properties(${src} PROPERTIES COMPILE_OPTIONS "${JITSON_FLAGS_AVX512}")
    elseif(name MATCHES "avx2")
      set_source_files_properties(${src} PROPERTIES COMPILE_OPTIONS "${JITSON_FLAGS_AVX2}")
    endif()
  endforeach()
endfunction()
