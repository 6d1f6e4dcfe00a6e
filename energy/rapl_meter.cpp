#include "energy/rapl_meter.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>

#include "core/error.h"
#include "energy/estimate_meter.h"

namespace joule::energy {
namespace fs = std::filesystem;
namespace {

// Why a read failed, in words a user can act on.
std::string describe_read_errno(int err) {
  if (err == EACCES || err == EPERM)
    return "permission denied (energy_uj has been readable by root only since the 2020 PLATYPUS "
           "fix; run as root or grant read access to it)";
  if (err == ENOENT) return "no such file";
  if (err == EISDIR) return "is a directory, not a file";
  return std::strerror(err);
}

// Reads a small sysfs file whole (sysfs answers one read). False with *error on failure. Opened
// without blocking and refused unless a regular file (sysfs attributes are): a FIFO or device in a
// powercap tree must not hang or flood the meter.
bool read_small_file(const std::string& path, std::string* content, std::string* error) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    *error = "cannot read " + path + ": " + describe_read_errno(errno);
    return false;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    *error = "cannot read " + path + (S_ISDIR(st.st_mode) ? ": is a directory, not a file" : ": not a regular file");
    return false;
  }
  char buffer[128];
  ssize_t n;
  do {
    n = ::read(fd, buffer, sizeof(buffer) - 1);
  } while (n < 0 && errno == EINTR);
  const int read_errno = errno;
  ::close(fd);
  if (n < 0) {
    *error = "cannot read " + path + ": " + describe_read_errno(read_errno);
    return false;
  }
  content->assign(buffer, static_cast<size_t>(n));
  while (!content->empty() && std::isspace(static_cast<unsigned char>(content->back()))) content->pop_back();
  return true;
}

// A decimal counter file (energy_uj, max_energy_range_uj).
bool read_counter(const std::string& path, uint64_t* value, std::string* error) {
  std::string text;
  if (!read_small_file(path, &text, error)) return false;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, *value);
  if (ec != std::errc() || ptr != end || text.empty()) {
    *error = "cannot read " + path + ": \"" + text + "\" is not a counter";
    return false;
  }
  return true;
}

// "intel-rapl:0" → {0}, "intel-rapl:0:2" → {0, 2}; anything else → {}.
std::vector<int> parse_zone_id(const std::string& name) {
  static constexpr char prefix[] = "intel-rapl:";
  constexpr size_t prefix_size = sizeof(prefix) - 1;
  if (name.compare(0, prefix_size, prefix) != 0) return {};
  std::vector<int> indices;
  const char* p = name.data() + prefix_size;
  const char* end = name.data() + name.size();
  while (true) {
    int index = 0;
    const auto [next, ec] = std::from_chars(p, end, index);
    if (ec != std::errc() || index < 0) return {};
    indices.push_back(index);
    if (next == end) break;
    if (*next != ':' || indices.size() == 2) return {};
    p = next + 1;
  }
  return indices;
}

// Zone directories named intel-rapl:N or intel-rapl:N:M directly under `dir` and one level below
// (sysfs links every zone at the top and nests sub-zones in their parent; fake trees may do either).
void find_zone_dirs(const fs::path& dir, int depth, std::map<std::vector<int>, fs::path>* found) {
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const std::vector<int> id = parse_zone_id(name);
    if (id.empty() || !fs::is_directory(it->path(), ec)) continue;
    found->emplace(id, it->path());  // a zone seen twice (sysfs links) is counted once
    if (depth == 0 && id.size() == 1) find_zone_dirs(it->path(), 1, found);
  }
}

}  // namespace

std::string RaplMeter::default_root() {
  const char* root = std::getenv("JOULE_POWERCAP_ROOT");
  return root != nullptr && root[0] != '\0' ? root : "/sys/class/powercap";
}

uint64_t RaplMeter::counter_delta(uint64_t previous, uint64_t current, uint64_t max_range_uj) {
  if (current >= previous) return current - previous;
  if (previous > max_range_uj) return current;  // reset: the old value was outside the range
  // the counter ran previous → max_range_uj, then 0 → current: every value in [0, max] is one step
  return (max_range_uj - previous) + current + 1;
}

std::unique_ptr<RaplMeter> RaplMeter::open(const std::string& root, std::string* why) {
  std::string ignored;
  if (why == nullptr) why = &ignored;
  why->clear();
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    *why = root + " does not exist (no powercap RAPL driver here, as in most VMs and containers)";
    return nullptr;
  }
  std::map<std::vector<int>, fs::path> dirs;
  find_zone_dirs(root, 0, &dirs);

  std::vector<Zone> zones;
  std::vector<std::string> dram_notes;
  for (const auto& [id, dir] : dirs) {
    Zone zone;
    zone.path = dir.string();
    zone.id = "intel-rapl:" + std::to_string(id[0]) + (id.size() == 2 ? ":" + std::to_string(id[1]) : "");
    std::string error;
    if (!read_small_file(zone.path + "/name", &zone.name, &error)) continue;  // unnamed: not a zone we count
    zone.dram = id.size() == 2 && zone.name == "dram";
    const bool package = id.size() == 1 && zone.name.rfind("package", 0) == 0;
    if (!zone.dram && !package) continue;  // core, uncore, psys
    bool ok = read_counter(zone.path + "/max_energy_range_uj", &zone.max_range_uj, &error) &&
              read_counter(zone.path + "/energy_uj", &zone.last_uj, &error);
    if (ok && zone.max_range_uj == 0) {
      error = zone.path + "/max_energy_range_uj is 0, so wraparound cannot be undone";
      ok = false;
    }
    if (!ok && package) {
      *why = error;
      return nullptr;
    }
    if (!ok) {
      dram_notes.push_back(error);
      continue;
    }
    zones.push_back(std::move(zone));
  }
  if (std::none_of(zones.begin(), zones.end(), [](const Zone& z) { return !z.dram; })) {
    *why = "no RAPL package zone (intel-rapl:N named package-N) under " + root;
    return nullptr;
  }
  if (!dram_notes.empty()) {
    *why = "RAPL DRAM zone(s) left out, so dram_j undercounts: " + dram_notes[0];
    for (size_t i = 1; i < dram_notes.size(); ++i) *why += "; " + dram_notes[i];
  }
  return std::unique_ptr<RaplMeter>(new RaplMeter(std::move(zones)));
}

void RaplMeter::update_locked() {
  for (Zone& zone : zones_) {
    uint64_t now = 0;
    std::string error;
    if (!read_counter(zone.path + "/energy_uj", &now, &error)) {
      ++zone.read_errors;  // keep last_uj: the energy is counted at the next good read
      continue;
    }
    zone.total_uj += counter_delta(zone.last_uj, now, zone.max_range_uj);
    zone.last_uj = now;
  }
}

void RaplMeter::poll() {
  std::lock_guard<std::mutex> lock(mutex_);
  update_locked();
}

MeterReading RaplMeter::read() {
  std::lock_guard<std::mutex> lock(mutex_);
  update_locked();
  MeterReading r;
  r.time_s = monotonic_seconds();
  uint64_t cpu_uj = 0, dram_uj = 0;
  for (const Zone& zone : zones_) (zone.dram ? dram_uj : cpu_uj) += zone.total_uj;
  r.cpu_j = static_cast<double>(cpu_uj) * 1e-6;
  r.dram_j = static_cast<double>(dram_uj) * 1e-6;
  return r;
}

std::vector<RaplMeter::Zone> RaplMeter::zones() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return zones_;
}

std::unique_ptr<Meter> make_cpu_meter(double watts_per_core, double static_watts, std::string* warning) {
  std::string why;
  std::unique_ptr<RaplMeter> rapl = RaplMeter::open(RaplMeter::default_root(), &why);
  if (warning != nullptr) warning->clear();
  if (rapl != nullptr) {
    if (warning != nullptr) *warning = why;  // empty unless a DRAM zone was left out
    return rapl;
  }
  auto estimate = std::make_unique<EstimateMeter>(watts_per_core, static_watts);
  if (warning != nullptr)
    *warning = "RAPL unusable: " + why + "; CPU energy is estimated from process CPU time and labelled \"estimate\"";
  return estimate;
}

CompositeMeter::CompositeMeter(std::unique_ptr<Meter> gpu, std::unique_ptr<Meter> cpu)
    : gpu_(std::move(gpu)), cpu_(std::move(cpu)) {
  JOULE_ASSERT(gpu_ != nullptr && cpu_ != nullptr, "CompositeMeter needs two meters");
}

MeterReading CompositeMeter::read() {
  const MeterReading g = gpu_->read();
  const MeterReading c = cpu_->read();
  MeterReading r;
  r.time_s = std::max(g.time_s, c.time_s);
  r.gpu_j = g.gpu_j + c.gpu_j;
  r.cpu_j = g.cpu_j + c.cpu_j;
  r.dram_j = g.dram_j + c.dram_j;
  return r;
}

std::vector<std::string> CompositeMeter::sources() const {
  std::vector<std::string> all = gpu_->sources();
  const std::vector<std::string> cpu = cpu_->sources();
  all.insert(all.end(), cpu.begin(), cpu.end());
  return all;
}

}  // namespace joule::energy
