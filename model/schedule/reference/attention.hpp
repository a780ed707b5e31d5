// Attention in double precision, twice: once plainly over the whole sequence (the truth
// every schedule is compared with), once as the block operations a schedule is made of
// (block forward with its log-sum-exp, block backward with the final LSE, the stable
// merge). Softmax scale 1/sqrt(d); GQA maps query head h to key/value head h / (H/H_kv).
// A query row with no allowed key has O = 0 and LSE = -inf, and contributes no gradient.
#pragma once

#include <cstdint>
#include <vector>

#include <Eigen/Dense>

#include "model/schedule/reference/tile.hpp"
#include "model/schedule/layout.hpp"
#include "model/types.hpp"

namespace xattn::reference {

// Global tensors of one layer, batch 1: per head, tokens x d.
struct AttentionProblem {
  AttentionShape shape;
  MaskSpec mask;
  std::vector<Eigen::MatrixXd> q, k, v, dout;  // H, H_kv, H_kv, H matrices
};

struct AttentionResult {
  std::vector<Eigen::MatrixXd> o, dq;  // H matrices, S_q x d
  std::vector<Eigen::MatrixXd> dk, dv; // H_kv matrices, S_kv x d
  Eigen::MatrixXd lse;                 // S_q x H
};

// Random Q, K, V, dO from a seed, entries uniform in [-1, 1], Q scaled by `q_scale`
// (large scales make LSE large: logits grow with it).
[[nodiscard]] AttentionProblem random_problem(const AttentionShape& shape, const MaskSpec& mask, std::uint64_t seed,
                                              double q_scale = 1.0);

// Plain attention over the whole sequence, forward and backward, written without the
// block machinery so that it is an independent check.
[[nodiscard]] AttentionResult dense_attention(const AttentionProblem& p);

// The stable merge of two log-sum-exps: max + log1p(exp(-|a - b|)); -inf is the identity.
[[nodiscard]] double merge_lse(double a, double b);

struct BlockContext {
  MaskSpec mask;
  std::int64_t group = 1;  // query heads per key/value head
  double scale = 1.0;
};

// (o, lse) of the queries of `q` against the keys of `k`, `v`.
void block_forward(const BlockContext& c, const Tile& q, const Tile& k, const Tile& v, Tile& o, Tile& lse);
// Gradients of one block with the final lse and delta = rowsum(dO∘O) of each query row.
// dq has q's layout, dk and dv k's; they are overwritten or added to.
void block_backward(const BlockContext& c, const Tile& q, const Tile& k, const Tile& v, const Tile& delta,
                    const Tile& dout, const Tile& lse, Tile& dq, bool dq_add, Tile& dk, Tile& dv, bool dkv_add);
// delta = rowsum(dout ∘ o), per row and head.
[[nodiscard]] Tile softmax_delta(const Tile& dout, const Tile& o);
// (o, lse) <- merge of (o, lse) and (po, plse); rows matched by token.
void merge_into(Tile& o, Tile& lse, const Tile& po, const Tile& plse);

}  // namespace xattn::reference
