// Whether a request's client is still there. Debian 12's cpp-httplib (0.11) gives a handler
// neither the socket nor is_connection_closed(), only the connection's two addresses: the
// socket is found among this process's descriptors by them, then asked without blocking. A
// streamed reply also notices a failed write; a reply that is generated before it is sent
// (not streamed) has only this.
#pragma once
#include <string>

namespace vkmoe {

// The descriptor of the connected socket with these ends (numeric addresses as getnameinfo
// writes them, e.g. "127.0.0.1"), or -1 when this process has none.
int find_connection(const std::string& local_addr, int local_port, const std::string& remote_addr, int remote_port);

// The peer of a connected socket has closed or reset it. False while it is open (data may wait
// to be read: a pipelined request) and for fd < 0.
bool peer_closed(int fd);

}  // namespace vkmoe
