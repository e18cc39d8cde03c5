// Chained termination-signal handlers (see signal_chain.hpp). Only async-signal-safe calls in
// pass_on: sigaction, raise and the previous handler.
#include "gradspec/cases/signal_chain.hpp"

namespace gradspec::cases {

void install_chained(void (*handler)(int), signal_chain& chain) {
  for (int i = 0; i < 3; ++i) {
    if (::sigaction(termination_signals[i], nullptr, &chain.previous[i]) != 0) continue;
    if (!(chain.previous[i].sa_flags & SA_SIGINFO) && chain.previous[i].sa_handler == SIG_IGN) continue;
    struct sigaction action {};
    action.sa_handler = handler;
    sigfillset(&action.sa_mask); // one termination signal at a time
    chain.installed[i] = ::sigaction(termination_signals[i], &action, nullptr) == 0;
  }
}

void pass_on(int signal, const signal_chain& chain) {
  for (int i = 0; i < 3; ++i) {
    if (termination_signals[i] != signal) continue;
    const auto previous = chain.previous[i].sa_handler;
    if (!(chain.previous[i].sa_flags & SA_SIGINFO) && previous != SIG_DFL && previous != SIG_IGN && previous != nullptr) {
      ::sigaction(signal, &chain.previous[i], nullptr);
      previous(signal);
      return;
    }
  }
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  ::sigaction(signal, &dfl, nullptr);
  ::raise(signal); // delivered when the handler returns: the default action (128 + signal to a shell)
}

} // namespace gradspec::cases
