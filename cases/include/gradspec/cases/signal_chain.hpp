// Handlers for the signals that end a run (SIGINT, SIGTERM, SIGHUP) that clean up and then pass the
// signal on: to the handler that was installed before theirs, else to the default action. Two layers
// chain this way: the adapter layer kills its process groups, the file writer removes its temporary.
// A signal ignored when the handler would be installed (nohup, `trap '' HUP`) stays ignored.
#pragma once

#include <signal.h>

namespace gradspec::cases {

inline constexpr int termination_signals[3] = {SIGINT, SIGTERM, SIGHUP};

// What one layer replaced: the previous action per termination signal, and whether its own handler
// went in (false where the signal was ignored or sigaction failed).
struct signal_chain {
  struct sigaction previous[3]{};
  bool installed[3] = {false, false, false};
};

// Installs `handler` (which must end with pass_on) for each termination signal not ignored, all
// signals blocked while it runs. Call once per layer, before any thread starts.
void install_chained(void (*handler)(int), signal_chain& chain);

// The end of a layer's handler: the previous handler (restored first, so that it may pass the signal
// on in turn), or the default action, delivered when the handler returns. Async-signal-safe.
void pass_on(int signal, const signal_chain& chain);

} // namespace gradspec::cases
