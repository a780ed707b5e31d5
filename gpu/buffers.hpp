// Which buffers a Schedule's ranks need on the GPU, inferred from the ops that use them
// (host-only, no CUDA): attention ops give the shapes of q, k, v, o, lse, dout, dq, dk, dv
// (gpu/attention.hpp layouts), transfers give their parts' byte sizes, collectives their
// input and output sizes from bytes_to, elementwise ops propagate a size from one operand
// to the other (merge, copy, accumulate, fill_zero), and RankData gives the schedule's
// own inputs and outputs. A buffer is as large as its largest use.
//
// Every buffer holds either activations (the activation dtype, BSHD) or fp32 per-row
// statistics (LSE, delta). Travelling accumulators in a wider dtype than the activations
// (BuildOptions::accumulator_bytes) are sized by their bytes, so transfers move the right
// number of bytes, but kernels read them in the activation dtype (docs/gpu_backend.md).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "model/schedule/schedule.hpp"

namespace xattn::gpu {

enum class BufferClass { activation, stat };

struct BufferSpec {
  std::string name;
  BufferClass cls = BufferClass::activation;
  std::int64_t bytes = 0;
  std::int64_t rows = 0;   // tokens, when an op or RankData says (0: unknown)
  std::int64_t heads = 0;  // heads, likewise
  bool input = false;      // one of Schedule::inputs: filled with random data before a run
};

struct RankBuffers {
  std::vector<BufferSpec> buffers;   // in order of first use
  std::map<std::string, int> index;  // name -> position in buffers
  [[nodiscard]] const BufferSpec& at(const std::string& name) const { return buffers.at(static_cast<std::size_t>(index.at(name))); }
  [[nodiscard]] std::int64_t total_bytes() const;
};

struct BufferPlan {
  std::vector<RankBuffers> ranks;
};

// The buffers of every rank of `s`. Bytes use the activation dtype of s.shape.
[[nodiscard]] BufferPlan plan_buffers(const Schedule& s);

}  // namespace xattn::gpu
