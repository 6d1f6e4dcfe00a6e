// ClockdClient: joule-train's side of the joule-clockd socket (protocol in clockd_protocol.h).
// One connection per actuator; the daemon resets every GPU this connection holds as soon as the
// connection closes, so closing it (close_now, async-signal-safe) is the emergency restore.
// Replies are awaited at most kClockdReplyTimeoutMs so a wedged daemon cannot hang training.
#pragma once

#include <memory>
#include <string>

#include "energy/clockd_protocol.h"

namespace joule::energy {

constexpr int kClockdReplyTimeoutMs = 10000;

class ClockdClient {
 public:
  // Connects to the Unix socket at `socket_path`; null with a reason (naming the path) when there
  // is no daemon there or the socket is not ours to use (permissions).
  static std::unique_ptr<ClockdClient> connect(const std::string& socket_path, std::string* why_not);
  ~ClockdClient();  // close_now()
  ClockdClient(const ClockdClient&) = delete;
  ClockdClient& operator=(const ClockdClient&) = delete;

  // Sends one request and waits for its reply. false with *why on a broken connection or a
  // malformed reply; true otherwise, with the daemon's refusal (if any) in reply->error.
  // After a false the connection is closed.
  bool transact(const ClockdRequest& request, ClockdReply* reply, std::string* why);
  bool connected() const { return fd_ >= 0; }
  const std::string& socket_path() const { return path_; }
  void close_now() noexcept;  // ::close only: safe in a signal handler and before MPI_Abort

 private:
  ClockdClient(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_;
  std::string path_;
  std::string pending_;  // bytes read past the last reply
};

}  // namespace joule::energy
