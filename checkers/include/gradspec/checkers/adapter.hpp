// The adapter protocol (CONTRACT.md): an implementation in any language runs as a process that
// reads one JSON request per line on stdin and answers one JSON line per request on stdout, after a
// handshake line. A crash, a hang past the timeout or an unparseable line fails that case with the
// reason; the adapter is restarted and the run goes on.
#pragma once

#include "gradspec/cases/case_file.hpp"
#include "gradspec/checkers/results.hpp"

#include <set>
#include <string>
#include <sys/types.h>

namespace gradspec::checkers {

// The request line for a case in a dtype: inputs and cotangents as JSON numbers (exact, since the
// case is exact in that dtype), non-finite values as "inf", "-inf", "nan".
std::string request_line(const cases::test_case& c, const std::string& dtype);

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

  // Starts the process (if not running) and reads its handshake; throws std::runtime_error with the
  // reason when it does not come.
  const handshake& start();
  // Sends one request and waits for the matching response; failures come back as a result with
  // `error` set ("adapter crashed (exit 1)", "timed out after 10 s", "unparseable line: ...") and the
  // process is stopped, to be restarted by the next start().
  candidate_result ask(const std::string& id, const std::string& line);
  void stop();
  unsigned restarts() const { return restarts_; }

private:
  std::string command_, log_path_;
  double timeout_;
  pid_t pid_ = -1;
  int to_child_ = -1, from_child_ = -1;
  std::string buffer_;
  handshake handshake_;
  unsigned restarts_ = 0, starts_ = 0;
  // A line from the child within the timeout; empty optional on EOF, throws on timeout.
  bool read_line(std::string& line, std::string& failure);
  std::string exit_reason();
};

} // namespace gradspec::checkers
