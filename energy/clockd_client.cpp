// ClockdClient over an AF_UNIX stream socket: blocking writes (MSG_NOSIGNAL: a dead daemon is an
// error, not SIGPIPE), reads bounded by poll() with kClockdReplyTimeoutMs.
#include "energy/clockd_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace joule::energy {

std::unique_ptr<ClockdClient> ClockdClient::connect(const std::string& socket_path, std::string* why_not) {
  sockaddr_un address{};
  if (socket_path.empty() || socket_path.size() >= sizeof(address.sun_path)) {
    *why_not = "joule-clockd socket path '" + socket_path + "' is empty or longer than " +
               std::to_string(sizeof(address.sun_path) - 1) + " bytes";
    return nullptr;
  }
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, socket_path.c_str(), socket_path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *why_not = std::string("socket(AF_UNIX) failed: ") + std::strerror(errno);
    return nullptr;
  }
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    const int error = errno;
    ::close(fd);
    *why_not = "cannot connect to joule-clockd at " + socket_path + ": " + std::strerror(error);
    return nullptr;
  }
  return std::unique_ptr<ClockdClient>(new ClockdClient(fd, socket_path));
}

ClockdClient::~ClockdClient() { close_now(); }

void ClockdClient::close_now() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool ClockdClient::transact(const ClockdRequest& request, ClockdReply* reply, std::string* why) {
  const auto fail = [&](const std::string& text) {
    *why = "joule-clockd at " + path_ + ": " + text;
    close_now();
    return false;
  };
  if (fd_ < 0) return fail("not connected");
  const std::string line = format_clockd_request(request);
  for (size_t sent = 0; sent < line.size();) {
    const ssize_t n = ::send(fd_, line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail(std::string("send failed: ") + std::strerror(errno));
    sent += static_cast<size_t>(n);
  }
  while (pending_.find('\n') == std::string::npos) {
    if (pending_.size() >= kClockdMaxReply) return fail("reply longer than " + std::to_string(kClockdMaxReply) + " bytes");
    pollfd p{fd_, POLLIN, 0};
    const int ready = ::poll(&p, 1, kClockdReplyTimeoutMs);
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) return fail("no reply within " + std::to_string(kClockdReplyTimeoutMs / 1000) + " s");
    if (ready < 0) return fail(std::string("poll failed: ") + std::strerror(errno));
    char buffer[1024];
    const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) return fail("the daemon closed the connection");
    if (n < 0) return fail(std::string("recv failed: ") + std::strerror(errno));
    pending_.append(buffer, static_cast<size_t>(n));
  }
  const size_t end = pending_.find('\n');
  const std::string text = pending_.substr(0, end);
  pending_.erase(0, end + 1);
  std::string malformed;
  if (!parse_clockd_reply(request.verb, text, reply, &malformed)) return fail(malformed);
  return true;
}

}  // namespace joule::energy
