# cmake --install: headers, library, pkg-config file and CMake package (jitson::jitson).
include(CMakePackageConfigHelpers)
install(TARGETS jitson EXPORT jitsonTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY include/jitson DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT jitsonTargets NAMESPACE jitson:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/jitson)
configure_package_config_file(cmake/jitsonConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/jitsonConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/jitson)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/jitsonConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/jitsonConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/jitsonConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/jitson)
if(BUILD_SHARED_LIBS)
  set(JITSON_PC_LIBS_PRIVATE "")
else()
  set(JITSON_PC_LIBS_PRIVATE "-lpthread -lfmt $<$<BOOL:${JITSON_WITH_LLVM}>:-L/usr/lib/llvm-19/lib -lLLVM-19>")
endif()
# Relocatable: the prefix is found from the .pc file's own place (pkg-config's pcfiledir), so a
# copy installed with `cmake --install --prefix P` works from P.
file(RELATIVE_PATH JITSON_PC_TO_PREFIX "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
string(REGEX REPLACE "/$" "" JITSON_PC_TO_PREFIX "${JITSON_PC_TO_PREFIX}")
configure_file(cmake/jitson.pc.in ${CMAKE_CURRENT_BINARY_DIR}/jitson.pc.in @ONLY)
file(GENERATE OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/jitson.pc INPUT ${CMAKE_CURRENT_BINARY_DIR}/jitson.pc.in)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/jitson.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
if(TARGET jitson_llvm)
  # Beside libjitson, where its loader looks (jit/llvm_loader.cpp).
  install(TARGETS jitson_llvm LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
endif()
if(TARGET jitson_faiss_peer)
  install(TARGETS jitson_faiss_peer LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
endif()
if(TARGET jitson_cli)
  # The installed command finds the installed libjitson from its own place, in any prefix,
  # without LD_LIBRARY_PATH: RUNPATH $ORIGIN/<bin → lib>.
  file(RELATIVE_PATH JITSON_BIN_TO_LIB "/prefix/${CMAKE_INSTALL_BINDIR}" "/prefix/${CMAKE_INSTALL_LIBDIR}")
  set_target_properties(jitson_cli PROPERTIES INSTALL_RPATH "$ORIGIN/${JITSON_BIN_TO_LIB}")
  install(TARGETS jitson_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
install(DIRECTORY configs/ DESTINATION ${CMAKE_INSTALL_DATADIR}/jitson/configs)
