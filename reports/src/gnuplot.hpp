// Running gnuplot without a shell (fork and exec, then gnuplot-iostream's stream over the pipe to its
// standard input): it runs inside `dir`,
// so scripts name their files relatively and no user-given path ever becomes command text.
#pragma once

#include <atomic>
#include <string>
#include <sys/types.h>

namespace gradspec::reports {

// Runs `gnuplot` in folder `dir` with `script` on stdin; throws std::runtime_error when gnuplot
// cannot be started or exits with an error.
void run_gnuplot(const std::string& dir, const std::string& script);

// The running gnuplot's pid (0 when none), for a signal handler that must not leave it behind.
extern std::atomic<pid_t> gnuplot_child;

} // namespace gradspec::reports
