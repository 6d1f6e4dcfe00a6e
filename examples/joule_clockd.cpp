// joule-clockd: the privileged helper that locks GPU SM clocks for joule-train ranks that are not
// root (README "joule-clockd (for administrators)"; protocol in energy/clockd_protocol.h).
//
//   joule-clockd --socket PATH --gpus 0,1 [--owner USER]
//
// Invariants:
// - It serves only the GPUs named by --gpus (by NVML index or PCI bus id, either naming matches)
//   and locks only their supported SM clocks (min = max).
// - One client holds a GPU from its lock until its reset or its disconnect; on disconnect (EOF,
//   HUP, error: however the client died, SIGKILL included) every GPU it held is reset at once.
// - The socket is created mode 0600 (owner-only; --owner hands it to the job user); an existing
//   non-socket path or a live daemon's socket is never replaced, a stale socket is.
// - SIGTERM/SIGINT: every served GPU is reset, the socket removed, exit 0.
// Single-threaded: one poll() loop over the listening socket, a signalfd and the clients.
// Exit status: 0 clean shutdown, 2 invalid arguments, 1 anything else (e.g. NVML refuses).
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "energy/clockd_protocol.h"
#include "energy/nvml_meter.h"

namespace je = joule::energy;

namespace {

struct Gpu {
  std::string name;       // as given on the command line
  std::string canonical;  // je::canonical_gpu(name)
  std::unique_ptr<je::NvmlDevice> device;
  std::vector<unsigned> supported;  // ascending
  int holder = -1;                  // client fd holding its lock, -1 = none
};

struct Client {
  int fd = -1;
  std::string input;  // bytes of an unfinished request line
};

void log_line(const std::string& text) { std::fprintf(stderr, "joule-clockd: %s\n", text.c_str()); }

std::string state_reply(Gpu& gpu) {
  unsigned long long mask = 0;
  const std::vector<std::string> reasons =
      gpu.device->clock_event_reasons(&mask) ? je::clock_event_reason_names(mask) : std::vector<std::string>{};
  return je::format_clockd_ok_state(gpu.device->sm_clock_mhz(), reasons);
}

bool reset_gpu(Gpu& gpu, const std::string& why) {
  std::string detail;
  const bool ok = gpu.device->reset_locked_clocks(&detail) == je::ClockStatus::ok;
  log_line("gpu " + gpu.name + ": clocks reset (" + why + ")" + (ok ? "" : ": FAILED: " + detail));
  gpu.holder = -1;
  return ok;
}

class Daemon {
 public:
  Daemon(std::vector<Gpu> gpus, int listen_fd, int signal_fd)
      : gpus_(std::move(gpus)), listen_fd_(listen_fd), signal_fd_(signal_fd) {}

  void run() {
    for (;;) {
      std::vector<pollfd> fds = {{listen_fd_, POLLIN, 0}, {signal_fd_, POLLIN, 0}};
      for (const Client& c : clients_) fds.push_back({c.fd, POLLIN, 0});
      if (::poll(fds.data(), fds.size(), -1) < 0) {
        JOULE_ASSERT(errno == EINTR, "poll failed: ", std::strerror(errno));
        continue;
      }
      if (fds[1].revents != 0) return;  // SIGTERM or SIGINT
      for (size_t i = 2; i < fds.size(); ++i)
        if (fds[i].revents != 0) serve(fds[i].fd, fds[i].revents);
      if (fds[0].revents & POLLIN) accept_client();
    }
  }

  void shutdown() {
    for (const Client& c : clients_) ::close(c.fd);
    clients_.clear();
    for (Gpu& gpu : gpus_) reset_gpu(gpu, "shutdown");
  }

 private:
  void accept_client() {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) return;  // the peer went away already, or EMFILE: the next poll retries
    clients_.push_back({fd, {}});
    log_line("client " + std::to_string(fd) + " connected");
  }

  // Reads what a client sent; answers each complete line; drops it on EOF, error or HUP.
  void serve(int fd, short revents) {
    Client* client = find_client(fd);
    if (client == nullptr) return;
    bool gone = (revents & (POLLERR | POLLNVAL)) != 0;
    if (!gone && (revents & (POLLIN | POLLHUP))) {
      char buffer[1024];
      const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
      if (n > 0) client->input.append(buffer, static_cast<size_t>(n));
      gone = n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN);
    }
    for (size_t end; !gone && (end = client->input.find('\n')) != std::string::npos;) {
      const std::string line = client->input.substr(0, end);
      client->input.erase(0, end + 1);
      gone = !send_reply(fd, answer(fd, line));
    }
    if (!gone && client->input.size() >= je::kClockdMaxRequest) {
      send_reply(fd, je::format_clockd_error("request longer than " + std::to_string(je::kClockdMaxRequest - 1) + " bytes"));
      gone = true;
    }
    if (gone) drop_client(fd);
  }

  std::string answer(int fd, const std::string& line) {
    je::ClockdRequest request;
    std::string why;
    if (!je::parse_clockd_request(line, &request, &why)) return refuse(fd, why);
    Gpu* gpu = find_gpu(request.gpu);
    if (gpu == nullptr) return refuse(fd, "gpu " + request.gpu + " is not served here (this joule-clockd serves " + served() + ")");
    try {
      if (request.verb == je::ClockdVerb::clocks) return je::format_clockd_ok_clocks(gpu->supported);
      if (request.verb == je::ClockdVerb::query) return state_reply(*gpu);
      if (gpu->holder != -1 && gpu->holder != fd)
        return refuse(fd, "gpu " + gpu->name + " is held by another client");
      if (request.verb == je::ClockdVerb::reset) {
        if (!reset_gpu(*gpu, "reset by client " + std::to_string(fd))) return refuse(fd, "NVML refused the reset");
        return state_reply(*gpu);
      }
      if (!std::binary_search(gpu->supported.begin(), gpu->supported.end(), request.mhz))
        return refuse(fd, std::to_string(request.mhz) + " MHz is not a supported SM clock of gpu " + gpu->name + " (" +
                              std::to_string(gpu->supported.front()) + " .. " + std::to_string(gpu->supported.back()) +
                              " MHz; ask with: clocks " + request.gpu + ")");
      std::string detail;
      if (gpu->device->set_locked_clocks(request.mhz, request.mhz, &detail) != je::ClockStatus::ok)
        return refuse(fd, "NVML refused to lock gpu " + gpu->name + ": " + detail);
      gpu->holder = fd;
      log_line("gpu " + gpu->name + ": locked at " + std::to_string(request.mhz) + " MHz for client " + std::to_string(fd));
      return state_reply(*gpu);
    } catch (const joule::Error& e) {
      return refuse(fd, e.message());
    }
  }

  std::string refuse(int fd, const std::string& why) {
    log_line("client " + std::to_string(fd) + ": refused: " + why);
    return je::format_clockd_error(why);
  }

  static bool send_reply(int fd, const std::string& reply) {  // a client that does not read is dropped
    return ::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL | MSG_DONTWAIT) == static_cast<ssize_t>(reply.size());
  }

  void drop_client(int fd) {
    for (Gpu& gpu : gpus_)
      if (gpu.holder == fd) reset_gpu(gpu, "client " + std::to_string(fd) + " disconnected holding it");
    ::close(fd);
    for (size_t i = 0; i < clients_.size(); ++i)
      if (clients_[i].fd == fd) clients_.erase(clients_.begin() + static_cast<long>(i));
    log_line("client " + std::to_string(fd) + " disconnected");
  }

  Client* find_client(int fd) {
    for (Client& c : clients_)
      if (c.fd == fd) return &c;
    return nullptr;
  }
  // By name first; else by NVML handle, so "0" and "0000:1b:00.0" name the same served GPU.
  Gpu* find_gpu(const std::string& canonical) {
    for (Gpu& g : gpus_)
      if (g.canonical == canonical) return &g;
    std::string why;
    const std::unique_ptr<je::NvmlDevice> device = je::open_nvml_device(canonical, &why);
    for (Gpu& g : gpus_)
      if (device != nullptr && device->handle() == g.device->handle()) return &g;
    return nullptr;
  }
  std::string served() const {
    std::string names;
    for (const Gpu& g : gpus_) names += (names.empty() ? "" : ", ") + g.name;
    return names;
  }

  std::vector<Gpu> gpus_;
  std::vector<Client> clients_;
  int listen_fd_, signal_fd_;
};

// Opens every GPU and resets its clocks: a daemon that cannot reset cannot promise to restore.
std::vector<Gpu> open_gpus(const std::string& list) {
  std::vector<Gpu> gpus;
  std::istringstream names(list);
  for (std::string name; std::getline(names, name, ',');) {
    Gpu gpu;
    gpu.name = name;
    gpu.canonical = je::canonical_gpu(name);
    JOULE_CHECK(!gpu.canonical.empty(), "--gpus: '", name, "' is neither an NVML index nor a PCI bus id");
    for (const Gpu& other : gpus)
      JOULE_CHECK(other.canonical != gpu.canonical, "--gpus: '", name, "' is named twice");
    std::string why;
    gpu.device = je::open_nvml_device(name, &why);
    JOULE_ASSERT(gpu.device != nullptr, "gpu ", name, ": ", why);
    gpu.supported = gpu.device->supported_sm_clocks();
    JOULE_ASSERT(!gpu.supported.empty(), "gpu ", name, " lists no supported SM clocks");
    std::string detail;
    JOULE_ASSERT(gpu.device->reset_locked_clocks(&detail) == je::ClockStatus::ok, "gpu ", name,
                 ": cannot reset its locked clocks (joule-clockd must run as root): ", detail);
    log_line("serving gpu " + name + " (" + gpu.device->name() + ", " + std::to_string(gpu.supported.front()) + " .. " +
             std::to_string(gpu.supported.back()) + " MHz)");
    gpus.push_back(std::move(gpu));
  }
  JOULE_CHECK(!gpus.empty(), "--gpus: expected a comma-separated list of NVML indices or PCI bus ids");
  return gpus;
}

// The listening socket: mode 0600 from the start (umask), chowned to --owner.
int open_socket(const std::string& path, const std::string& owner) {
  sockaddr_un address{};
  JOULE_CHECK(!path.empty() && path.size() < sizeof(address.sun_path), "--socket: '", path,
              "' must be 1 .. ", sizeof(address.sun_path) - 1, " bytes");
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    JOULE_CHECK(S_ISSOCK(st.st_mode), "--socket ", path, ": exists and is not a socket; refusing to replace it");
    const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const bool live = ::connect(probe, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0;
    ::close(probe);
    JOULE_CHECK(!live, "--socket ", path, ": another joule-clockd is serving it");
    JOULE_ASSERT(::unlink(path.c_str()) == 0, "removing the stale socket ", path, ": ", std::strerror(errno));
    log_line("removed a stale socket at " + path);
  }
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  JOULE_ASSERT(fd >= 0, "socket: ", std::strerror(errno));
  const mode_t old_mask = ::umask(0177);
  const int bound = ::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address));
  ::umask(old_mask);
  JOULE_ASSERT(bound == 0, "bind ", path, ": ", std::strerror(errno));
  JOULE_ASSERT(::chmod(path.c_str(), 0600) == 0, "chmod ", path, ": ", std::strerror(errno));
  if (!owner.empty()) {
    const passwd* user = ::getpwnam(owner.c_str());
    JOULE_CHECK(user != nullptr, "--owner: no user '", owner, "'");
    JOULE_ASSERT(::chown(path.c_str(), user->pw_uid, user->pw_gid) == 0, "chown ", path, ": ", std::strerror(errno));
  }
  JOULE_ASSERT(::listen(fd, 64) == 0, "listen ", path, ": ", std::strerror(errno));
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"joule-clockd: locks GPU SM clocks for joule-train, resets them when a client disconnects"};
  std::string socket_path, gpu_list, owner;
  app.add_option("--socket", socket_path, "Unix socket to create (mode 0600)")->required();
  app.add_option("--gpus", gpu_list, "GPUs to serve: NVML indices or PCI bus ids, comma-separated")->required();
  app.add_option("--owner", owner, "user who may connect (the socket is chowned to this user)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  try {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    JOULE_ASSERT(sigprocmask(SIG_BLOCK, &signals, nullptr) == 0, "sigprocmask: ", std::strerror(errno));
    const int signal_fd = ::signalfd(-1, &signals, SFD_CLOEXEC);
    JOULE_ASSERT(signal_fd >= 0, "signalfd: ", std::strerror(errno));
    std::vector<Gpu> gpus = open_gpus(gpu_list);
    const int listen_fd = open_socket(socket_path, owner);
    log_line("listening on " + socket_path);
    Daemon daemon(std::move(gpus), listen_fd, signal_fd);
    daemon.run();
    daemon.shutdown();
    ::close(listen_fd);
    ::unlink(socket_path.c_str());
    log_line("stopped");
    return 0;
  } catch (const joule::Error& e) {
    std::fprintf(stderr, "joule-clockd: error: %s [%s]\n", e.message().c_str(), e.where().c_str());
    return e.kind() == joule::ErrorKind::invalid_input ? 2 : 1;
  }
}
