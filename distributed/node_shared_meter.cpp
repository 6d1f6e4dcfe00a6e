// NodeSharedMeter (distributed/node_shared_meter.h): node-level domains read once per node and
// split among the node's ranks. Invariant: every rank of a node holds the same gathered rows
// (last_) and applies the same rule to them, so the shares of a group sum to its leader's delta.
#include "distributed/node_shared_meter.h"

#include <algorithm>
#include <cctype>

#include "core/error.h"
#include "energy/estimate_meter.h"

namespace joule {
namespace {

// One rank's row in the per-read node all-gather.
enum Field { kCpu = 0, kDram = 1, kGpu = 2, kCpuSeconds = 3, kFields = 4 };

bool has_source(const energy::Meter& meter, const char* source) {
  const std::vector<std::string> sources = meter.sources();
  return std::find(sources.begin(), sources.end(), source) != sources.end();
}

// The ranks of the node that share a domain, by local rank; leader = members.front().
struct Group {
  std::vector<int> members;
  size_t me = 0;  // this rank's index in members
};

class NodeSharedMeter final : public energy::Meter {
 public:
  NodeSharedMeter(std::unique_ptr<energy::Meter> inner, Communicator& comm, const NodeShareOptions& options);

  energy::MeterReading read() override;
  std::vector<std::string> sources() const override { return inner_->sources(); }
  bool measured() const override { return inner_->measured(); }
  std::string note() const;

 private:
  std::vector<double> gather_row();  // collective: reads inner_, all-gathers the node's rows
  double row(const std::vector<double>& rows, int local, Field field) const {
    return rows[static_cast<size_t>(local) * kFields + field];
  }
  // This rank's share of the group's leader delta in `field` between last_ and `now`.
  double share(const Group& group, const std::vector<double>& now, Field field, bool by_cpu_time) const;

  std::unique_ptr<energy::Meter> inner_;
  Communicator& comm_;
  std::function<double()> cpu_seconds_;
  int local_rank_;
  int local_size_;
  Group cpu_;  // empty members: this rank's cpu and dram are its own
  Group gpu_;  // empty members: this rank's gpu is its own
  std::vector<double> last_;  // the node's rows at the previous read (local_size_ × kFields)
  double time_s_ = 0;
  double cpu_j_ = 0, dram_j_ = 0, gpu_j_ = 0;  // this rank's cumulative shares since construction
};

NodeSharedMeter::NodeSharedMeter(std::unique_ptr<energy::Meter> inner, Communicator& comm,
                                 const NodeShareOptions& options)
    : inner_(std::move(inner)),
      comm_(comm),
      cpu_seconds_(options.cpu_seconds ? options.cpu_seconds : std::function<double()>(process_cpu_seconds)),
      local_rank_(comm.local_rank()),
      local_size_(comm.local_size()) {
  JOULE_ASSERT(inner_ != nullptr, "make_node_shared_meter: null rank meter");
  // Who shares what: the node's global ranks by local rank, and every rank's "cpu flag + gpu key".
  const double rank = comm.rank();
  const std::vector<double> ranks = comm.node_all_gather(&rank, 1);
  const bool node_cpu = has_source(*inner_, "rapl");
  const std::string gpu_key = has_source(*inner_, "nvml") ? gpu_share_key(options.gpu) : "";
  const std::vector<std::string> shares = comm.all_gather((node_cpu ? "1" : "0") + gpu_key);
  JOULE_ASSERT(static_cast<int>(ranks.size()) == local_size_, "node_all_gather returned ", ranks.size(),
               " ranks for a node of ", local_size_);
  Group cpu, gpu;
  for (int local = 0; local < local_size_; ++local) {
    const std::string& share = shares.at(static_cast<size_t>(ranks[local]));
    if (local == local_rank_) cpu.me = cpu.members.size(), gpu.me = gpu.members.size();
    if (node_cpu && share[0] == '1') cpu.members.push_back(local);
    if (!gpu_key.empty() && share.substr(1) == gpu_key) gpu.members.push_back(local);
  }
  if (node_cpu) cpu_ = cpu;
  if (gpu.members.size() > 1) gpu_ = gpu;  // a GPU of its own is passed through
  last_ = gather_row();  // the baseline: readings count from here
}

std::vector<double> NodeSharedMeter::gather_row() {
  const energy::MeterReading r = inner_->read();
  time_s_ = r.time_s;
  double mine[kFields];
  mine[kCpu] = r.cpu_j;
  mine[kDram] = r.dram_j;
  mine[kGpu] = r.gpu_j;
  mine[kCpuSeconds] = cpu_seconds_();
  std::vector<double> rows = comm_.node_all_gather(mine, kFields);
  JOULE_ASSERT(rows.size() == static_cast<size_t>(local_size_) * kFields, "node_all_gather returned ", rows.size(),
               " values for ", local_size_, " ranks of ", kFields);
  return rows;
}

double NodeSharedMeter::share(const Group& group, const std::vector<double>& now, Field field,
                              bool by_cpu_time) const {
  if (group.members.empty()) return now[local_rank_ * kFields + field] - last_[local_rank_ * kFields + field];
  const int leader = group.members.front();
  const double delta = row(now, leader, field) - row(last_, leader, field);
  std::vector<double> weights(group.members.size(), 1.0);
  if (by_cpu_time)
    for (size_t i = 0; i < group.members.size(); ++i)
      weights[i] = row(now, group.members[i], kCpuSeconds) - row(last_, group.members[i], kCpuSeconds);
  return split_node_delta(delta, weights)[group.me];
}

energy::MeterReading NodeSharedMeter::read() {
  const std::vector<double> now = gather_row();
  cpu_j_ += share(cpu_, now, kCpu, /*by_cpu_time=*/true);
  dram_j_ += share(cpu_, now, kDram, /*by_cpu_time=*/true);
  gpu_j_ += share(gpu_, now, kGpu, /*by_cpu_time=*/false);
  last_ = now;
  energy::MeterReading r;
  r.time_s = time_s_;
  r.cpu_j = cpu_j_;
  r.dram_j = dram_j_;
  r.gpu_j = gpu_j_;
  return r;
}

std::string NodeSharedMeter::note() const {
  std::string note;
  if (cpu_.members.size() > 1)
    note = "CPU package and DRAM energy (RAPL) of this node is split among its " + std::to_string(cpu_.members.size()) +
           " ranks by CPU time";
  if (!gpu_.members.empty())
    note += (note.empty() ? "GPU" : "; its GPU") + std::string(" energy is split equally among the ") +
            std::to_string(gpu_.members.size()) + " ranks of this node that use it";
  return note;
}

}  // namespace

std::vector<double> split_node_delta(double delta_j, const std::vector<double>& weights) {
  JOULE_ASSERT(!weights.empty(), "split_node_delta: no ranks to split among");
  delta_j = std::max(delta_j, 0.0);
  double sum = 0;
  for (double w : weights) sum += std::max(w, 0.0);
  std::vector<double> shares(weights.size(), delta_j / static_cast<double>(weights.size()));
  if (sum > 0)
    for (size_t i = 0; i < weights.size(); ++i) shares[i] = delta_j * (std::max(weights[i], 0.0) / sum);
  return shares;
}

std::string gpu_share_key(const std::string& gpu) {
  if (gpu.empty()) return "";
  if (std::all_of(gpu.begin(), gpu.end(), [](unsigned char c) { return std::isdigit(c) != 0; })) {
    const size_t first = std::min(gpu.find_first_not_of('0'), gpu.size() - 1);  // "007" → "7", "0" stays
    return "index " + gpu.substr(first);
  }
  std::string key;
  for (unsigned char c : gpu) key += static_cast<char>(std::tolower(c));
  // "domain:bus:device.function": drop the domain's zero padding (CUDA prints 4 digits, NVML 8)
  size_t colon = key.find(':');
  if (colon != std::string::npos && key.find(':', colon + 1) == std::string::npos) {
    key = "0:" + key;  // "bus:device.function": domain 0
    colon = 1;
  }
  if (colon != std::string::npos) {
    const size_t first = key.find_first_not_of('0');
    if (first >= colon) key.erase(0, colon - 1);  // all zeros: keep one
    else key.erase(0, first);
  }
  return key;
}

std::unique_ptr<energy::Meter> make_node_shared_meter(std::unique_ptr<energy::Meter> rank_meter, Communicator& comm,
                                                      const NodeShareOptions& options, std::string* note) {
  JOULE_ASSERT(rank_meter != nullptr, "make_node_shared_meter: null rank meter");
  auto meter = std::make_unique<NodeSharedMeter>(std::move(rank_meter), comm, options);
  if (note != nullptr) *note = meter->note();
  return meter;
}

}  // namespace joule
