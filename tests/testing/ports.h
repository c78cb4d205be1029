// File: tests/testing/ports.h
//
// Free loopback ports for anything a test starts (etcd, the controller's HTTP endpoint, a
// listener under test): tests never use fixed ports.
//
// PickFreePort() binds a TCP socket to 127.0.0.1:0, reads the port the kernel chose and closes
// the socket, so the port was free a moment ago; another process may take it before the caller
// binds it (rare: the kernel hands ephemeral ports out in turn). Returns 0 when no socket could
// be bound.
//
// Thread-safety: safe from any thread.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace registrar::testing {

inline int PickFreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    return 0;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

}  // namespace registrar::testing
