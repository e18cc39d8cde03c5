#include "gnuplot.hpp"

#include <gnuplot-iostream.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <stdexcept>
#include <sys/wait.h>
#include <unistd.h>

namespace gradspec::reports {

std::atomic<pid_t> gnuplot_child{0};

void run_gnuplot(const std::string& dir, const std::string& script) {
  int in[2];
  if (::pipe(in) != 0) throw std::runtime_error(std::string("cannot create a pipe for gnuplot: ") + std::strerror(errno));
  std::fflush(nullptr);
  // No termination signal between fork and publishing the pid: the handler would miss gnuplot.
  sigset_t termination, saved;
  sigemptyset(&termination);
  for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&termination, s);
  ::sigprocmask(SIG_BLOCK, &termination, &saved);
  const pid_t pid = ::fork();
  if (pid > 0) gnuplot_child.store(pid);
  ::sigprocmask(SIG_SETMASK, &saved, nullptr);
  if (pid < 0) {
    ::close(in[0]);
    ::close(in[1]);
    throw std::runtime_error("cannot start gnuplot (fork failed)");
  }
  if (pid == 0) {
    ::dup2(in[0], 0);
    ::close(in[0]);
    ::close(in[1]);
    const int null = ::open("/dev/null", O_WRONLY);
    if (null >= 0) ::dup2(null, 1); // gnuplot's stdout carries nothing we want; errors stay on stderr
    if (::chdir(dir.c_str()) != 0) ::_exit(126);
    ::execlp("gnuplot", "gnuplot", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(in[0]);
  // A gnuplot that dies early must not kill us with SIGPIPE.
  struct sigaction ignore {}, previous {};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &ignore, &previous);
  // The script goes through gnuplot-iostream's stream over our pipe (its own constructor would
  // start gnuplot through a shell); the stream's destructor flushes and closes the pipe.
  if (FILE* fh = ::fdopen(in[1], "w")) {
    Gnuplot gp(fh);
    gp << script;
  } else {
    ::close(in[1]);
  }
  ::sigaction(SIGPIPE, &previous, nullptr);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  gnuplot_child.store(0);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127) throw std::runtime_error("cannot run gnuplot (is gnuplot installed?)");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw std::runtime_error("gnuplot failed to draw the plot");
}

} // namespace gradspec::reports
