// joule-clockd end to end: the daemon runs as its own process over the fake NVML library, which
// rewrites FAKE_NVML_STATE_FILE after every setter call, so this test sees what the daemon did to
// the "card" from outside. Waits are bounded loops on a condition (a hang fails, nothing is timed).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "energy/clock_actuator.h"
#include "energy/clockd_client.h"
#include "tests/support/command.h"
#include "tests/support/fake_nvml_env.h"

extern char** environ;

namespace joule::energy {
namespace {

using joule::testing::binary_path;
using joule::testing::read_file;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Polls `done` every 5 ms, at most ~60 s (a bound on hangs, not a timing assertion).
bool wait_until(const std::function<bool()>& done) {
  for (int i = 0; i < 12000; ++i) {
    if (done()) return true;
    ::poll(nullptr, 0, 5);
  }
  return done();
}

class JouleClockdTest : public joule::testing::FakeNvmlTest {
 protected:
  void SetUp() override {
    FakeNvmlTest::SetUp();
    char dir[] = "/tmp/joule-clockd-test-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    dir_ = dir;
    socket_ = dir_ + "/clockd.sock";
    state_ = dir_ + "/fake-nvml-state";
    log_ = dir_ + "/clockd.log";
  }
  void TearDown() override {
    stop_daemon(SIGKILL);
    std::system(("rm -rf " + joule::testing::shell_quote(dir_)).c_str());
    FakeNvmlTest::TearDown();
  }

  // Starts joule-clockd with `args` over 2 fake GPUs; its stderr goes to log_.
  pid_t spawn_daemon(const std::vector<std::string>& args, const std::string& extra_env = "") {
    std::vector<std::string> env = {"JOULE_NVML_LIBRARY=" JOULE_FAKE_NVML_LIBRARY, "FAKE_NVML_DEVICES=2",
                                    "FAKE_NVML_STATE_FILE=" + state_, "PATH=/usr/bin:/bin"};
    if (!extra_env.empty()) env.push_back(extra_env);
    std::vector<std::string> argv = {binary_path("joule-clockd")};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> c_argv, c_env;
    for (std::string& a : argv) c_argv.push_back(a.data());
    for (std::string& e : env) c_env.push_back(e.data());
    c_argv.push_back(nullptr);
    c_env.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 2, log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    pid_t pid = -1;
    const int error = posix_spawn(&pid, c_argv[0], &actions, nullptr, c_argv.data(), c_env.data());
    posix_spawn_file_actions_destroy(&actions);
    EXPECT_EQ(error, 0) << std::strerror(error);
    return pid;
  }

  // The daemon for gpu 0, ready when its socket accepts a connection.
  void start_daemon() {
    pid_ = spawn_daemon({"--socket", socket_, "--gpus", "0"});
    int status = 0;
    const bool ready = wait_until([&] {
      std::string why;
      return ClockdClient::connect(socket_, &why) != nullptr || ::waitpid(pid_, &status, WNOHANG) == pid_;
    });
    ASSERT_TRUE(ready && ::kill(pid_, 0) == 0) << "joule-clockd did not come up:\n" << read_file(log_);
  }

  // Sends `signal` and returns the exit status (-1: not running).
  int stop_daemon(int signal) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, signal);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  bool state_has(const std::string& line) { return contains("\n" + read_file(state_), "\n" + line + "\n"); }
  bool wait_for_state(const std::string& line) { return wait_until([&] { return state_has(line); }); }
  unsigned daemon_setter_calls() {
    const std::string text = read_file(state_);
    const size_t at = text.find("setter_calls ");
    return at == std::string::npos ? 0 : static_cast<unsigned>(std::stoul(text.substr(at + 13)));
  }

  ClockActuatorOptions via_daemon(const std::string& gpu = "0") {
    ClockActuatorOptions o;
    o.gpu = gpu;
    o.apply = ClockApply::apply;
    o.clockd_socket = socket_;
    o.is_root = [] { return false; };  // the daemon is the only way in
    return o;
  }

  std::string dir_, socket_, state_, log_;
  pid_t pid_ = -1;
};

TEST_F(JouleClockdTest, SocketIsOwnerOnlyAndSigtermResetsAndRemovesIt) {
  start_daemon();
  struct stat st {};
  ASSERT_EQ(::lstat(socket_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_TRUE(state_has("reset 0")) << "the daemon starts from reset clocks";

  std::string why;
  std::unique_ptr<ClockdClient> client = ClockdClient::connect(socket_, &why);
  ASSERT_NE(client, nullptr) << why;
  ClockdReply reply;
  ASSERT_TRUE(client->transact({ClockdVerb::lock, "0", 990}, &reply, &why)) << why;
  ASSERT_TRUE(reply.ok) << reply.error;
  ASSERT_TRUE(wait_for_state("locked 0 990 990")) << read_file(state_);
  EXPECT_EQ(stop_daemon(SIGTERM), 0) << read_file(log_);
  EXPECT_TRUE(state_has("reset 0")) << read_file(state_);
  EXPECT_NE(::lstat(socket_.c_str(), &st), 0) << "the socket outlived the daemon";
}

TEST_F(JouleClockdTest, ClientKilledWithSigkillHasItsGpuReset) {
  start_daemon();
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // the client: locks through the actuator, then waits to be killed
    std::vector<std::string> warnings;
    std::unique_ptr<ClockActuator> knob = make_clock_actuator(via_daemon(), warnings);
    if (!knob->available() || !knob->lock_sm_clock(990).applied) ::_exit(3);
    for (;;) ::pause();
  }
  int status = 0;
  bool exited = false;  // a client that failed stops the wait
  const bool locked = wait_until([&] {
    exited = exited || ::waitpid(child, &status, WNOHANG) == child;
    return exited || state_has("locked 0 990 990");
  }) && !exited;
  ::kill(child, SIGKILL);
  if (!exited) ::waitpid(child, &status, 0);
  ASSERT_TRUE(locked) << "the client never locked: " << read_file(state_) << read_file(log_);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "client exit " << status;
  EXPECT_TRUE(wait_for_state("reset 0")) << read_file(state_) << read_file(log_);
  EXPECT_TRUE(wait_until([&] { return contains(read_file(log_), "disconnected holding it"); })) << read_file(log_);
  EXPECT_EQ(::kill(pid_, 0), 0) << "the daemon died with its client";
}

TEST_F(JouleClockdTest, RefusesClocksOutsideTheCardAndGpusItDoesNotServe) {
  start_daemon();
  std::string why;
  std::unique_ptr<ClockdClient> client = ClockdClient::connect(socket_, &why);
  ASSERT_NE(client, nullptr) << why;
  const unsigned calls = daemon_setter_calls();
  struct Case {
    ClockdRequest request;
    const char* why;
  };
  for (const Case& c : {Case{{ClockdVerb::lock, "0", 1000}, "not a supported SM clock"},
                        Case{{ClockdVerb::lock, "0", 100}, "not a supported SM clock"},
                        Case{{ClockdVerb::lock, "0", 2100}, "not a supported SM clock"},
                        Case{{ClockdVerb::lock, "1", 990}, "gpu 1 is not served here"},
                        Case{{ClockdVerb::reset, "1", 0}, "gpu 1 is not served here"},
                        Case{{ClockdVerb::lock, "00000000:43:00.0", 990}, "is not served here"},  // gpu 1's bus id
                        Case{{ClockdVerb::lock, "00000000:99:00.0", 990}, "is not served here"}}) {
    ClockdReply reply;
    ASSERT_TRUE(client->transact(c.request, &reply, &why)) << why;
    EXPECT_FALSE(reply.ok) << format_clockd_request(c.request);
    EXPECT_TRUE(contains(reply.error, c.why)) << reply.error;
  }
  EXPECT_EQ(daemon_setter_calls(), calls) << "a refused request reached NVML";

  std::vector<std::string> warnings;
  std::unique_ptr<ClockActuator> other = make_clock_actuator(via_daemon("1"), warnings);
  EXPECT_FALSE(other->available());
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_TRUE(contains(warnings[0], "not served")) << warnings[0];
}

TEST_F(JouleClockdTest, ActuatorLocksReadsBackAndResetsThroughTheDaemon) {
  start_daemon();
  std::vector<std::string> warnings;
  ClockActuatorOptions options = via_daemon();
  options.max_mhz = 1500;
  std::unique_ptr<ClockActuator> knob = make_clock_actuator(options, warnings);
  ASSERT_TRUE(knob->available()) << knob->reason();
  EXPECT_TRUE(warnings.empty());
  EXPECT_STREQ(knob->mode(), "clockd");
  EXPECT_EQ(knob->supported_mhz().back(), 1500u);
  const ClockChange change = knob->lock_sm_clock(1000);
  EXPECT_TRUE(change.applied) << change.message;
  EXPECT_EQ(change.snapped_mhz, 1005u);
  EXPECT_EQ(change.applied_mhz, 1005u);
  EXPECT_TRUE(wait_for_state("locked 0 1005 1005")) << read_file(state_);
  EXPECT_EQ(knob->current_mhz(), 1005u);

  std::string why;  // a second client may not take a GPU that is held
  std::unique_ptr<ClockdClient> intruder = ClockdClient::connect(socket_, &why);
  ASSERT_NE(intruder, nullptr) << why;
  ClockdReply reply;
  ASSERT_TRUE(intruder->transact({ClockdVerb::lock, "0", 345}, &reply, &why)) << why;
  EXPECT_FALSE(reply.ok);
  EXPECT_TRUE(contains(reply.error, "held by another client")) << reply.error;

  ASSERT_TRUE(intruder->transact({ClockdVerb::lock, "0000:1b:00.0", 345}, &reply, &why)) << why;
  EXPECT_TRUE(contains(reply.error, "held by another client")) << "gpu 0 by its bus id: " << reply.error;

  knob->reset();
  EXPECT_TRUE(state_has("reset 0")) << read_file(state_);  // the reply came after the reset
  ASSERT_TRUE(intruder->transact({ClockdVerb::lock, "0000:1b:00.0", 345}, &reply, &why)) << why;
  EXPECT_TRUE(reply.ok) << "gpu 0 by its bus id, once released: " << reply.error;
  EXPECT_TRUE(state_has("locked 0 345 345")) << read_file(state_);
  ASSERT_TRUE(intruder->transact({ClockdVerb::reset, "0", 0}, &reply, &why)) << why;
  EXPECT_TRUE(reply.ok) << reply.error;
  EXPECT_EQ(knob->lock_sm_clock(2000).applied_mhz, 1500u);
  knob.reset();
  EXPECT_TRUE(wait_for_state("reset 0")) << read_file(state_);

  knob = make_clock_actuator(via_daemon(), warnings);  // the abort path: closing the socket is enough
  ASSERT_TRUE(knob->lock_sm_clock(720).applied);
  ASSERT_TRUE(state_has("locked 0 720 720")) << read_file(state_);
  reset_clocks_emergency();
  EXPECT_TRUE(wait_for_state("reset 0")) << read_file(state_);
  knob.reset();

  std::FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(reset_clocks_command(via_daemon(), out), 0);
  ClockActuatorOptions unserved = via_daemon("1");
  EXPECT_EQ(reset_clocks_command(unserved, out), 1);
  std::fclose(out);
}

TEST_F(JouleClockdTest, StartupRefusesAFileOrALiveDaemonAndReplacesAStaleSocket) {
  {
    std::ofstream(socket_) << "not a socket";
    pid_ = spawn_daemon({"--socket", socket_, "--gpus", "0"});
    EXPECT_EQ(stop_daemon(0), 2) << read_file(log_);
    EXPECT_TRUE(contains(read_file(log_), "is not a socket")) << read_file(log_);
    EXPECT_EQ(read_file(socket_), "not a socket");
    ::unlink(socket_.c_str());
  }
  {  // a socket nobody listens on: left by a daemon that was killed
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strcpy(address.sun_path, socket_.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    ::close(fd);
  }
  start_daemon();
  EXPECT_TRUE(contains(read_file(log_), "removed a stale socket")) << read_file(log_);
  const pid_t second = spawn_daemon({"--socket", socket_, "--gpus", "0"});
  int status = 0;
  ::waitpid(second, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2) << read_file(log_);
  EXPECT_TRUE(contains(read_file(log_), "another joule-clockd is serving it")) << read_file(log_);
  EXPECT_EQ(::kill(pid_, 0), 0);
  const pid_t bad_gpu = spawn_daemon({"--socket", dir_ + "/other.sock", "--gpus", "0,x"});
  ::waitpid(bad_gpu, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2) << read_file(log_);
}

TEST_F(JouleClockdTest, WithoutTheRightToResetItRefusesToStart) {
  pid_ = spawn_daemon({"--socket", socket_, "--gpus", "0"}, "FAKE_NVML_FAIL=no_permission");
  EXPECT_EQ(stop_daemon(0), 1) << read_file(log_);
  EXPECT_TRUE(contains(read_file(log_), "must run as root")) << read_file(log_);
  struct stat st {};
  EXPECT_NE(::lstat(socket_.c_str(), &st), 0) << "a socket was created by a daemon that cannot serve";
}

TEST_F(JouleClockdTest, MalformedAndOverlongRequestsAreAnsweredAndTheDaemonGoesOn) {
  start_daemon();
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strcpy(address.sun_path, socket_.c_str());
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0) << std::strerror(errno);
  const std::string requests = "power 0 300\nlock 0 990 now\n" + std::string(400, 'x');  // the last has no end
  ASSERT_EQ(::send(fd, requests.data(), requests.size(), MSG_NOSIGNAL), static_cast<ssize_t>(requests.size()));
  std::string replies;
  char buffer[512];
  for (ssize_t n; (n = ::recv(fd, buffer, sizeof buffer, 0)) > 0;) replies.append(buffer, static_cast<size_t>(n));
  ::close(fd);  // recv returned 0: the daemon hung up on the overlong line
  EXPECT_TRUE(contains(replies, "error unknown request 'power'")) << replies;
  EXPECT_TRUE(contains(replies, "error lock takes <gpu> <mhz>")) << replies;
  EXPECT_TRUE(contains(replies, "error request longer than 255 bytes")) << replies;
  std::string why;
  std::unique_ptr<ClockdClient> client = ClockdClient::connect(socket_, &why);
  ASSERT_NE(client, nullptr) << why;
  ClockdReply reply;
  ASSERT_TRUE(client->transact({ClockdVerb::query, "0", 0}, &reply, &why)) << why;
  EXPECT_TRUE(reply.ok) << reply.error;
  EXPECT_EQ(reply.clocks_mhz, std::vector<unsigned>{1980});
}

}  // namespace
}  // namespace joule::energy
