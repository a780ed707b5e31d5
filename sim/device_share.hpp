// Several ranks on one GPU (issue 6). The GPU backend runs a P-rank schedule on fewer
// devices than ranks: each rank is a set of CUDA streams, and the ranks placed on one
// device share its SMs. When one attention block fills the GPU, two blocks of different
// ranks do not run faster together than one after the other, so the simulator models a
// shared device as running its ranks' compute ops one at a time:
//
//  * DeviceSharing::in_order — the device executes its compute ops in one given order,
//    exactly like a single CUDA stream: an op starts when it is next in that order, its
//    own rank's stream and dependency conditions are met, and the device is idle. A head
//    op that is not ready holds back the ops after it (head-of-line blocking), even ready
//    ones. This is how the GPU backend runs them (one compute stream per device).
//  * DeviceSharing::fifo — one at a time, in the order they become ready (ties by rank,
//    then op index): roughly how concurrent kernels of several streams behave when each
//    one fills the GPU.
//
// Communication ops are not serialized: a loopback transfer between two ranks of one
// device is a copy engine or a copy kernel paced on its own (see loopback_cluster in
// model/hardware.hpp).
#pragma once

#include <vector>

#include "model/schedule/schedule.hpp"
#include "model/schedule/timeline.hpp"

namespace xattn::sim {

enum class DeviceSharing { in_order, fifo };

// Devices named by a rank -> device placement: 1 + the largest device index.
[[nodiscard]] int device_count(const std::vector<int>& device_of);

// The compute ops of each device (index = device), ordered by their start time in
// `independent` — a Timeline of the same schedule in which no rank shares its device —
// with ties broken by rank, then op index. Used as DeviceSharing::in_order's order, and by
// the GPU backend as the order it enqueues compute kernels on a device's one stream.
//
// Why it cannot deadlock a single stream: in `independent` every op starts only after its
// dependencies and its stream predecessors have ended, and every op with a positive
// duration ends strictly after it starts. So if op A (directly or through a transfer,
// a collective or another rank) must complete before op B can start, then start(A) <
// end(A) <= start(B) (zero-duration ops: start(A) <= start(B), and the index tie-break
// orders a rank's own ops by program order). Sorting by start time therefore never puts
// an op before anything it waits for, so executing the order serially — each op waiting
// only for things that precede it or for transfers whose partners' waits precede them —
// always has a next op that can run. The executor still reports a deadlock as a
// SimulationError should a hand-written order violate this.
[[nodiscard]] std::vector<std::vector<OpId>> device_compute_order(const Schedule& s, const Timeline& independent,
                                                                  const std::vector<int>& device_of);

}  // namespace xattn::sim
