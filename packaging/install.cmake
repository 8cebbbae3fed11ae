# Install-time half of `make install` / `cmake --install`: included into
# cmake_install.cmake (install(SCRIPT) in CMakeLists.txt) after the programs
# are installed, so every path below follows the prefix given at install
# time (`cmake --install build --prefix /usr`), not the one configured.
# Expects NOA_SOURCE_DIR and NOA_BINARY_DIR (set by an install(CODE) line).
#
# Layout, with P the prefix:
#   P/bin/noa-server, noa-shipper, noa-logcli      (install(TARGETS))
#   C/noa-server.yaml, C/noa-shipper.yaml, C/rules/fake/*.yaml
#       C = /etc/noa when P is /usr, else P/etc/noa
#   P/lib/systemd/system/noa-server.service, noa-shipper.service
#   P/lib/sysusers.d/noa.conf, P/lib/tmpfiles.d/noa.conf
#   P/share/noa/{examples,rules,grafana,prometheus}/
#   P/share/doc/noa/*.md
#
# Configuration files are the administrator's once installed (Debian's
# conffiles): one that is absent is installed; one that is present and
# identical is left alone; one that is present and differs is kept and the
# new default is installed next to it as <name>.new, with a message.

if(NOT NOA_SOURCE_DIR OR NOT NOA_BINARY_DIR)
  message(FATAL_ERROR "packaging/install.cmake: NOA_SOURCE_DIR and NOA_BINARY_DIR must be set")
endif()

set(noa_prefix "${CMAKE_INSTALL_PREFIX}")
string(REGEX REPLACE "/+$" "" noa_prefix "${noa_prefix}")
# The FHS places a /usr install's configuration in /etc; any other prefix
# (/usr/local, /opt/noa) keeps it under the prefix.
if(noa_prefix STREQUAL "/usr" OR noa_prefix STREQUAL "")
  set(noa_conf_dir "/etc/noa")
else()
  set(noa_conf_dir "${noa_prefix}/etc/noa")
endif()
set(noa_bin_dir "${noa_prefix}/bin")
set(noa_share_dir "${noa_prefix}/share/noa")
set(noa_doc_dir "${noa_prefix}/share/doc/noa")
set(noa_unit_dir "${noa_prefix}/lib/systemd/system")

# Installs src as dir/name unless the administrator owns a different copy.
function(noa_install_conffile src dir name)
  set(have "$ENV{DESTDIR}${dir}/${name}")
  if(NOT EXISTS "${have}")
    file(INSTALL DESTINATION "${dir}" TYPE FILE PERMISSIONS OWNER_READ OWNER_WRITE
         GROUP_READ WORLD_READ FILES "${src}" RENAME "${name}")
    return()
  endif()
  file(SHA256 "${have}" have_sum)
  file(SHA256 "${src}" new_sum)
  if(have_sum STREQUAL new_sum)
    message(STATUS "Up-to-date (configuration): ${have}")
    return()
  endif()
  file(INSTALL DESTINATION "${dir}" TYPE FILE PERMISSIONS OWNER_READ OWNER_WRITE
       GROUP_READ WORLD_READ FILES "${src}" RENAME "${name}.new")
  message(STATUS "Kept (configuration, changed locally): ${have}; "
                 "the new default is ${have}.new")
endfunction()

# ---- configuration: /etc/noa ----
noa_install_conffile("${NOA_SOURCE_DIR}/packaging/noa-server.yaml" "${noa_conf_dir}"
                     noa-server.yaml)
noa_install_conffile("${NOA_SOURCE_DIR}/packaging/noa-shipper.yaml" "${noa_conf_dir}"
                     noa-shipper.yaml)
# Tenant "fake" is the one tenant when auth_enabled is false.
file(GLOB noa_rules "${NOA_SOURCE_DIR}/config/rules/*.yaml")
foreach(rule ${noa_rules})
  get_filename_component(rule_name "${rule}" NAME)
  noa_install_conffile("${rule}" "${noa_conf_dir}/rules/fake" "${rule_name}")
endforeach()

# ---- systemd: units with this prefix's paths, sysusers.d, tmpfiles.d ----
set(NOA_BIN_DIR "${noa_bin_dir}")
set(NOA_CONF_DIR "${noa_conf_dir}")
set(NOA_DOC_DIR "${noa_doc_dir}")
foreach(unit noa-server.service noa-shipper.service)
  configure_file("${NOA_SOURCE_DIR}/packaging/systemd/${unit}"
                 "${NOA_BINARY_DIR}/packaging/${unit}" @ONLY)
  file(INSTALL DESTINATION "${noa_unit_dir}" TYPE FILE PERMISSIONS OWNER_READ OWNER_WRITE
       GROUP_READ WORLD_READ FILES "${NOA_BINARY_DIR}/packaging/${unit}")
endforeach()
file(INSTALL DESTINATION "${noa_prefix}/lib/sysusers.d" TYPE FILE
     FILES "${NOA_SOURCE_DIR}/packaging/sysusers.d/noa.conf")
file(INSTALL DESTINATION "${noa_prefix}/lib/tmpfiles.d" TYPE FILE
     FILES "${NOA_SOURCE_DIR}/packaging/tmpfiles.d/noa.conf")

# ---- share/noa: pristine defaults, rules, dashboards, alert rules ----
file(INSTALL DESTINATION "${noa_share_dir}/examples" TYPE FILE
     FILES "${NOA_SOURCE_DIR}/packaging/noa-server.yaml"
           "${NOA_SOURCE_DIR}/packaging/noa-shipper.yaml")
if(noa_rules)
  file(INSTALL DESTINATION "${noa_share_dir}/rules" TYPE FILE FILES ${noa_rules})
endif()
# Written by other parts of the tree; installed when present.
file(GLOB noa_dashboards "${NOA_SOURCE_DIR}/config/grafana/*.json")
if(noa_dashboards)
  file(INSTALL DESTINATION "${noa_share_dir}/grafana" TYPE FILE FILES ${noa_dashboards})
endif()
file(GLOB noa_prom "${NOA_SOURCE_DIR}/config/prometheus/*.yaml")
# promtool's unit tests of the rules stay out: a rule_files glob over this
# directory would try to load them as rules.
list(FILTER noa_prom EXCLUDE REGEX "\\.test\\.yaml$")
if(noa_prom)
  file(INSTALL DESTINATION "${noa_share_dir}/prometheus" TYPE FILE FILES ${noa_prom})
endif()

# ---- share/doc/noa ----
file(GLOB noa_docs "${NOA_SOURCE_DIR}/docs/*.md")
file(INSTALL DESTINATION "${noa_doc_dir}" TYPE FILE FILES "${NOA_SOURCE_DIR}/README.md"
     ${noa_docs})
