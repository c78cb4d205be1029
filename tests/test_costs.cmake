# The seconds each longer test takes (ctest's COST; included by the top CMakeLists.txt, applied by
# er_cc_test and the tests/soak, tests/integration/image CMakeLists). `ctest -j` starts the
# costliest first. Without costs a fresh build dir (CI: a fresh clone every run, no
# Testing/Temporary/CTestCostData.txt) starts the tests in declaration order, and a long test
# declared late (soak_short is the last one) runs alone on one core at the end. Once a build dir
# has its own cost data, ctest still prefers these (a non-zero COST wins: ctest's ReadCostData
# only fills in a cost of 0), so keep them roughly right: main's build/ cost data of 3 December
# 2026 (warm `ctest -j2` runs; soak_short after this branch's TTL change), rounded; keyed by
# the er_cc_test NAME, so the _etcd34/35/36 copies of a suite share one figure (they differ by
# less than 10 %). Tests under about 5 s are left out (cost 0: they fill the gaps).
# Refresh: awk '{print $1, int($3)}' build/Testing/Temporary/CTestCostData.txt after a run.
set(ER_TEST_COST_soak_short 80)
set(ER_TEST_COST_publish_test 97)
set(ER_TEST_COST_controller_kube_controller_test 82)
set(ER_TEST_COST_image_build 60)  # 20 s when only the label layer changes, 5 min when it rebuilds
set(ER_TEST_COST_etcd_lease_keeper_integration_test 57)
set(ER_TEST_COST_controller_lifecycle_test 56)
set(ER_TEST_COST_publisher_revoke_debt_integration_test 43)
set(ER_TEST_COST_publish_access_test 30)
set(ER_TEST_COST_publisher_adoption_integration_test 30)
# kube_targets: about 70 s per version run directly under load on the rotate branch.
set(ER_TEST_COST_controller_kube_targets_test 70)
set(ER_TEST_COST_kube_reflector_test 25)
set(ER_TEST_COST_controller_etcd_access_test 22)
set(ER_TEST_COST_etcd_watch_memory_test 21)
set(ER_TEST_COST_etcd_auth_tls_integration_test 20)
set(ER_TEST_COST_kubectl_main_sequence_test 20)
set(ER_TEST_COST_kube_client_watch_test 19)
set(ER_TEST_COST_kube_client_test 19)
set(ER_TEST_COST_kube_reconcile_test 18)
set(ER_TEST_COST_compat_side_by_side_test 18)
set(ER_TEST_COST_kube_etcd_flavors_test 17)
set(ER_TEST_COST_publisher_spec_change_integration_test 15)
set(ER_TEST_COST_kube_api_test 15)
set(ER_TEST_COST_controller_bad_files_test 15)
set(ER_TEST_COST_fixtures_etcd_inspector_test 13)
set(ER_TEST_COST_kube_watch_test 11)
set(ER_TEST_COST_controller_idle_test 11)
set(ER_TEST_COST_image_pod_test 10)
set(ER_TEST_COST_publisher_settle_integration_test 10)
set(ER_TEST_COST_packaging_kube_test 10)
set(ER_TEST_COST_controller_http_policy_test 10)
set(ER_TEST_COST_publisher_conflict_integration_test 9)
set(ER_TEST_COST_publisher_recovery_integration_test 8)
set(ER_TEST_COST_kube_object_writer_test 8)
set(ER_TEST_COST_kube_fault_proxy_test 8)
set(ER_TEST_COST_kube_control_plane_test 8)
set(ER_TEST_COST_fixtures_etcd_watch_recorder_test 8)
set(ER_TEST_COST_etcd_client_integration_test 7)
set(ER_TEST_COST_compat_controller_judged_test 5)

# er_test_cost(test key [LABELS...]): COST of `test` from ER_TEST_COST_<key>, when the table has
# it; and PROCESSORS 2 when it is CPU-heavy (a label of ER_TEST_HEAVY_LABELS, or a key of
# ER_TEST_HEAVY). `make test` runs ctest with two slots per core (CTEST_JOBS): most integration
# tests wait on etcd and TTLs (publish_test: 9 CPU-s in 115 s, the lease keeper suite 2.5 in 63),
# while a test that starts a kube-apiserver keeps about a core busy
# (controller_kube_controller_test: 77 CPU-s); counted twice, at most two of them run at once on
# two cores, as at -j2, and the waiting tests fill the other slots.
set(ER_TEST_HEAVY_LABELS kube)
set(ER_TEST_HEAVY image_build)
function(er_test_cost test key)
  if(DEFINED ER_TEST_COST_${key})
    set_tests_properties(${test} PROPERTIES COST ${ER_TEST_COST_${key}})
  endif()
  set(heavy OFF)
  if(key IN_LIST ER_TEST_HEAVY)
    set(heavy ON)
  endif()
  foreach(label ${ARGN})
    if(label IN_LIST ER_TEST_HEAVY_LABELS)
      set(heavy ON)
    endif()
  endforeach()
  if(heavy)
    set_tests_properties(${test} PROPERTIES PROCESSORS 2)
  endif()
endfunction()
