// Fuzzes the nccl-tests log reader (model/calib/nccl_tests.hpp): text output and `-J`
// JSON (recognised by a leading '{'), read as all_reduce.log so that a log that does not
// name its collective still has one; then what the fit reads of a log (its ranks, nodes,
// processes, launch mode and GPU) and the fit itself on it.
#include <cstddef>
#include <cstdint>

#include "model/calib/link_fit.hpp"
#include "model/calib/nccl_tests.hpp"
#include "tests/fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace xattn;
  fuzz::refusals_allowed([&] {
    const NcclLog log = parse_nccl_tests(fuzz::text_of(data, size), "all_reduce.log");
    (void)log.ranks();
    (void)log.gpus_per_node();
    (void)log.processes();
    (void)log.launch();
    (void)log.gpu();
    (void)fit_links({log});
  });
  return 0;
}
