// The adapter protocol (CONTRACT.md): an implementation in any language runs as a process that
// reads one JSON request per line on stdin and answers one JSON line per request on stdout, after a
// handshake line. A crash, a hang past the timeout, an unparseable or oversized line fails that case
// with the reason; the adapter is restarted and the run goes on.
//
// Process handling: the command runs as `/bin/sh -c COMMAND` in its own process group; every stop
// (end of run, failure, restart, exception) sends SIGTERM to the whole group, then SIGKILL after a
// grace period, and reaps it. While an adapter runs, SIGINT, SIGTERM and SIGHUP to gradspec (unless
// ignored when the first adapter started, as under nohup) kill its group the same way, then take
// their default action (so the shell sees 128 + the signal).
#pragma once

#include "gradspec/cases/case_file.hpp"
#include "gradspec/checkers/results.hpp"

#include <cstddef>
#include <set>
#include <string>
#include <sys/types.h>

namespace gradspec::checkers {

// The request line for a case in a dtype: inputs and cotangents as JSON numbers (exact, since the
// case is exact in that dtype), non-finite values as "inf", "-inf", "nan".
std::string request_line(const cases::test_case& c, const std::string& dtype);

// The longest reply accepted for a case: 64 MiB + 64 bytes per value of the case (its inputs,
// cotangents and expected tensors). A legitimate reply holds at most the expected tensors, at
// about 25 bytes per float64 in JSON, so this is generous; it bounds memory and time spent on a
// runaway adapter.
std::size_t reply_limit(const cases::test_case& c);
// Without the case: 64 MiB + 64 bytes per byte of the request line (looser still).
std::size_t reply_limit_for_request(const std::string& line);
// The handshake line's limit (it lists dtypes and ops).
inline constexpr std::size_t handshake_limit = std::size_t(1) << 20;
// --timeout is validated to (0, max_timeout_seconds] by the CLI; the adapter clamps to it too.
inline constexpr double max_timeout_seconds = 1e6;

struct handshake {
  implementation_info implementation;
  std::set<std::string> dtypes, ops;
  bool gradients = true; // "gradients": false declares a forward-only implementation
};

class adapter_process {
public:
  adapter_process(std::string command, double timeout_seconds, std::string log_path);
  ~adapter_process();
  adapter_process(const adapter_process&) = delete;
  adapter_process& operator=(const adapter_process&) = delete;

  // Starts the process (if not running) and reads its handshake. Throws bad_input (path
  // "--adapter", the message says "handshake") when no valid handshake comes within the timeout.
  const handshake& start();
  // Sends one request and waits for the matching response, the write and the read together within
  // the timeout (the adapter may answer while the request is still being written). Failures come
  // back as a result with `error` set ("adapter exited with status 1", "adapter killed by signal 11
  // (SIGSEGV, ...)", "timed out after 10 s", "reply longer than N bytes", "unparseable response
  // ...") and the process is stopped, to be restarted by the next start().
  candidate_result ask(const std::string& id, const std::string& line, std::size_t max_reply);
  candidate_result ask(const std::string& id, const std::string& line) { return ask(id, line, reply_limit_for_request(line)); }
  // Closes stdin, gives the adapter a moment to exit, then kills its process group and reaps it.
  void stop() { stop_group(true); }
  unsigned restarts() const { return restarts_; }

private:
  std::string command_, log_path_;
  double timeout_;
  pid_t pid_ = -1; // also the process group id
  bool leader_reaped_ = false; // pid_ exited and was reaped (exit_reason); its group may live on
  int to_child_ = -1, from_child_ = -1; // our ends, non-blocking
  std::string buffer_;                  // bytes read, not yet returned as a line
  std::size_t scanned_ = 0;             // buffer_[0, scanned_) holds no '\n'
  handshake handshake_;
  unsigned restarts_ = 0, starts_ = 0;
  bool handshake_pending_ = false; // names the line in "... longer than N bytes"

  // Writes `request` (may be empty) and reads one line of at most max_line bytes, both before the
  // deadline. False with `failure` set on timeout, EOF, a broken pipe or an oversized line;
  // `answered_early` says a line came before the whole request was written.
  bool exchange(const std::string& request, std::size_t max_line, std::string& line, std::string& failure,
                bool& answered_early);
  bool take_line(std::string& line, std::size_t max_line, std::string& failure);
  void stop_group(bool wait_for_eof_exit);
  std::string exit_reason();
};

} // namespace gradspec::checkers
