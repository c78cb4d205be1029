// File: controller/app/signals.h
//
// SIGINT/SIGTERM for the commands: BlockTerminationSignals() before any thread starts (threads
// inherit the mask), then WaitForTermination() on the main thread.
#pragma once

#include <chrono>
#include <functional>

namespace registrar::app {

void BlockTerminationSignals();
// Waits until SIGINT/SIGTERM arrives (returns the signal) or `stop()` returns true when polled
// every `poll` (returns 0).
// True once SIGINT/SIGTERM arrived (does not wait; a later WaitForTermination returns it).
bool TerminationRequested();
int WaitForTermination(const std::function<bool()>& stop, std::chrono::milliseconds poll);

}  // namespace registrar::app
