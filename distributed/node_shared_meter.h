// Node-shared metering: a rank's Meter whose node-level domains are attributed once per node, so
// that N ranks on one node report the node's energy once between them, not N times.
//
// Which domains are node-level (decided once, from the inner meter's sources()):
//   cpu_j, dram_j  when the rank's CPU meter is RAPL (source "rapl"): the package and DRAM counters
//                  are the whole socket's, and every rank of the node reads the same ones;
//   gpu_j          when the rank meters a GPU through NVML (source "nvml") that other ranks of the
//                  node name too (NodeShareOptions::gpu): they all read the same device counter.
// The estimate (source "estimate") is this process's own CPU time already and is never split; a
// GPU used by one rank alone is passed through.
//
// Attribution rule, per read k (reads are numbered alike on every rank) and per shared domain:
//   the node delta D_k = the group leader's reading k − its reading k−1 (the leader: the lowest
//   local rank of the ranks sharing the domain; all of them read the same counter, so taking one
//   rank's value makes every rank divide the same number), clamped at ≥ 0;
//   rank i's cumulative share grows by D_k × w_i / Σ_j w_j over the group, where w_i is
//     cpu, dram: rank i's process CPU-time delta between reads k−1 and k (CLOCK_PROCESS_CPUTIME_ID,
//                all threads), clamped at ≥ 0;
//     gpu:       1 (equal split: NVML gives no per-process energy or a portable per-process
//                utilisation without root-enabled accounting mode);
//   and by D_k / n (n ranks in the group) when Σ_j w_j = 0.
// Hence each rank's reading only grows, and the group's shares sum to the leader's metered delta
// (up to rounding), window by window and over the run: the job total equals the nodes' metered
// energy. Every rank computes all shares from the same gathered numbers, so they agree exactly.
// Readings count from the wrapper's construction (its baseline read), not the inner meter's.
//
// Collective contract: construction and every read() are collectives of the whole job (two
// all-gathers at construction, one Communicator::node_all_gather of 4 doubles per read): every
// rank must build the wrapper, and call read(), at the same points and equally often. The Trainer
// guarantees it: it reads at agreed window closes (every rank closes window k at the same step),
// at eval lines, at the start and at the end. A rank that reads alone waits for the others until
// the stall watchdog ends the job. sources() and measured() are the inner meter's and local.
//
// Use (main(), every rank, after the communicator and before the Trainer):
//   energy::RankMeter rank = energy::make_rank_meter(rank_options);
//   std::string note;  // print it with rank.warnings
//   std::unique_ptr<energy::Meter> meter =
//       make_node_shared_meter(std::move(rank.meter), comm, {rank_options.gpu, {}}, &note);
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "distributed/communicator.h"
#include "energy/meter.h"

namespace joule {

struct NodeShareOptions {
  // The rank's GPU as given to energy::make_rank_meter (RankMeterOptions::gpu; "" = none). Ranks of
  // one node whose strings name the same device share its energy: an NVML index ("0") matches the
  // same index, a PCI bus id matches the same bus id whatever its case and the zero padding of its
  // domain ("0000:1b:00.0" = "00000000:1B:00.0"); an index does not match a bus id, so name GPUs
  // the same way on every rank (the CUDA backend passes bus ids).
  std::string gpu;
  // This process's cumulative CPU seconds, the CPU split's weight; empty = process_cpu_seconds.
  // Tests script it.
  std::function<double()> cpu_seconds;
};

// Wraps `rank_meter` (non-null; e.g. energy::make_rank_meter(...).meter) as described above.
// Collective (see the file top). *note (may be null) is set to one sentence for the rank's log
// saying what is shared and how it is split, or cleared when nothing is shared on this rank.
std::unique_ptr<energy::Meter> make_node_shared_meter(std::unique_ptr<energy::Meter> rank_meter, Communicator& comm,
                                                      const NodeShareOptions& options = {},
                                                      std::string* note = nullptr);

// The rule for one domain and one read: delta_j (J, clamped at ≥ 0) split in proportion to
// weights (each clamped at ≥ 0), equally when they sum to 0. Returns one share per weight; the
// shares sum to delta_j up to rounding. weights must not be empty.
std::vector<double> split_node_delta(double delta_j, const std::vector<double>& weights);

// The GPU string in the form compared between ranks: "index N" for all decimal digits, else the
// bus id in lower case with its domain's leading zeros dropped ("0:1b:00.0"); "" for "".
std::string gpu_share_key(const std::string& gpu);

}  // namespace joule
