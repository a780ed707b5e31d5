// The TCP rendezvous and what every bootstrap shares (see rendezvous.hpp).
//
// Wire format: every message is a frame — a 16-byte header (magic "XATN", type, payload
// length; big-endian) and the payload. A joining rank sends `hello` (protocol version,
// its rank, the world size it was started with); rank 0 answers `welcome` or `error`
// (a message, after which the connection closes). Afterwards `data` frames carry the
// collective operations' bytes, and an `error` frame from rank 0 says why the run ends.
// Sockets are non-blocking; every read and write waits with poll() until a deadline.
#include "gpu/rendezvous.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "gpu/byte_order.hpp"

namespace xattn::gpu {

// ---- packing ------------------------------------------------------------------------------

std::string pack(const std::vector<std::string>& parts) {
  std::string out;
  put_u64(out, parts.size());
  for (const auto& p : parts) {
    put_u64(out, p.size());
    out += p;
  }
  return out;
}

std::vector<std::string> unpack(std::string_view bytes) {
  auto fail = [] { return RendezvousError("malformed packed message (the processes run different xattn builds?)"); };
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  std::size_t at = 0;
  auto take = [&]() -> std::uint64_t {
    if (bytes.size() - at < 8) throw fail();
    const std::uint64_t v = get_u64(p + at);
    at += 8;
    return v;
  };
  const std::uint64_t n = take();
  if (n > bytes.size() / 8) throw fail();
  std::vector<std::string> out;
  out.reserve(static_cast<std::size_t>(n));
  for (std::uint64_t i = 0; i < n; ++i) {
    const std::uint64_t len = take();
    if (len > bytes.size() - at) throw fail();
    out.emplace_back(bytes.substr(at, static_cast<std::size_t>(len)));
    at += static_cast<std::size_t>(len);
  }
  if (at != bytes.size()) throw fail();
  return out;
}

std::vector<std::string> Bootstrap::all_gather(std::string mine) {
  std::vector<std::string> parts = gather(std::move(mine));
  return unpack(broadcast(rank() == 0 ? pack(parts) : std::string()));
}

std::string find_job_mismatch(Bootstrap& b, const std::string& job) {
  std::vector<std::string> jobs = b.gather(job);
  std::string verdict;
  if (b.rank() == 0) {
    for (std::size_t r = 1; r < jobs.size(); ++r)
      if (jobs[r] != jobs[0])
        verdict += fmt::format("{}rank {} runs [{}], rank 0 runs [{}]", verdict.empty() ? "" : "; ", r, jobs[r], jobs[0]);
    if (!verdict.empty()) verdict += ": start every process with the same arguments";
  }
  return b.broadcast(verdict);
}

// ---- TCP ----------------------------------------------------------------------------------

namespace {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

constexpr std::uint32_t frame_magic = 0x5841544eu;  // "XATN"
constexpr std::uint32_t protocol_version = 1;
constexpr std::uint64_t max_payload = 1ull << 32;   // 4 GiB: far more than op times need
constexpr std::chrono::milliseconds report_grace{2000};  // see TcpBootstrap::from_rank0
enum class FrameType : std::uint32_t { hello = 1, welcome = 2, data = 3, error = 4 };

struct Frame {
  FrameType type = FrameType::data;
  std::string payload;
};

// A socket operation that did not complete: the deadline passed, the peer closed the
// connection, or the system said no. Turned into a RendezvousError that names the ranks.
struct IoFailure {
  enum Kind { timeout, closed, error } kind;
  std::string text;
};

int ms_left(Deadline d) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(d - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, 1'000'000'000));
}

std::string seconds(std::chrono::milliseconds t) {
  return t.count() % 1000 == 0 ? fmt::format("{} s", t.count() / 1000) : fmt::format("{:.1f} s", static_cast<double>(t.count()) / 1e3);
}

// Waits until fd is readable (POLLIN) or writable (POLLOUT), or the deadline passes.
void wait_for(int fd, short events, Deadline d) {
  for (;;) {
    const int left = ms_left(d);
    if (left == 0) throw IoFailure{IoFailure::timeout, "timed out"};
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw IoFailure{IoFailure::error, std::strerror(errno)};
    if (n > 0) return;  // ready, or an error/hang-up the next call reports
  }
}

void send_all(int fd, const char* p, std::size_t n, Deadline d) {
  while (n > 0) {
    const ssize_t k = ::send(fd, p, n, MSG_NOSIGNAL);
    if (k > 0) {
      p += k;
      n -= static_cast<std::size_t>(k);
      continue;
    }
    if (k < 0 && errno == EINTR) continue;
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      wait_for(fd, POLLOUT, d);
      continue;
    }
    if (k < 0 && (errno == EPIPE || errno == ECONNRESET)) throw IoFailure{IoFailure::closed, std::strerror(errno)};
    throw IoFailure{IoFailure::error, std::strerror(errno)};
  }
}

void recv_all(int fd, char* p, std::size_t n, Deadline d) {
  while (n > 0) {
    const ssize_t k = ::recv(fd, p, n, 0);
    if (k > 0) {
      p += k;
      n -= static_cast<std::size_t>(k);
      continue;
    }
    if (k == 0) throw IoFailure{IoFailure::closed, "connection closed"};
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      wait_for(fd, POLLIN, d);
      continue;
    }
    if (errno == ECONNRESET) throw IoFailure{IoFailure::closed, std::strerror(errno)};
    throw IoFailure{IoFailure::error, std::strerror(errno)};
  }
}

void send_frame(int fd, FrameType type, std::string_view payload, Deadline d) {
  std::string head;
  put_u32(head, frame_magic);
  put_u32(head, static_cast<std::uint32_t>(type));
  put_u64(head, payload.size());
  send_all(fd, head.data(), head.size(), d);
  send_all(fd, payload.data(), payload.size(), d);
}

Frame recv_frame(int fd, Deadline d, std::uint64_t limit) {
  unsigned char head[16];
  recv_all(fd, reinterpret_cast<char*>(head), sizeof head, d);
  if (get_u32(head) != frame_magic) throw IoFailure{IoFailure::error, "not an xattn rendezvous peer"};
  const std::uint32_t type = get_u32(head + 4);
  const std::uint64_t len = get_u64(head + 8);
  if (type < 1 || type > 4 || len > limit) throw IoFailure{IoFailure::error, "malformed frame"};
  Frame f;
  f.type = static_cast<FrameType>(type);
  f.payload.resize(static_cast<std::size_t>(len));
  recv_all(fd, f.payload.data(), f.payload.size(), d);
  return f;
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

void tune(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// A listening socket on every interface (IPv6 with IPv4 mapped where the host has IPv6).
int open_listener(int port) {
  int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1, zero = 0;
  if (fd >= 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_any;
    a.sin6_port = htons(static_cast<std::uint16_t>(port));
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && ::listen(fd, 1024) == 0) return fd;
    const int err = errno;
    ::close(fd);
    fd = -1;
    if (err != EAFNOSUPPORT && err != EADDRNOTAVAIL)
      throw RendezvousError(fmt::format("rank 0 cannot listen on TCP port {}: {} (another run on this port? choose another "
                                        "MASTER_PORT)",
                                        port, std::strerror(err)));
  }
  fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw RendezvousError(fmt::format("rank 0 cannot open a socket: {}", std::strerror(errno)));
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_ANY);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 1024) != 0) {
    const int err = errno;
    ::close(fd);
    throw RendezvousError(fmt::format(
        "rank 0 cannot listen on TCP port {}: {} (another run on this port? choose another MASTER_PORT)", port,
        std::strerror(err)));
  }
  return fd;
}

// One attempt to connect to `a` before `d`: the connected socket, or -1 with `why` set.
// Throws RendezvousError when the host name does not resolve (waiting will not help).
int try_connect(const TcpAddress& a, Deadline d, std::string& why) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  const std::string port = std::to_string(a.port);
  const int rc = ::getaddrinfo(a.host.c_str(), port.c_str(), &hints, &list);
  if (rc == EAI_AGAIN) {
    why = ::gai_strerror(rc);
    return -1;
  }
  if (rc != 0) throw RendezvousError(fmt::format("cannot resolve the rendezvous host '{}': {}", a.host, ::gai_strerror(rc)));
  int fd = -1;
  for (addrinfo* ai = list; ai != nullptr && fd < 0; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      why = std::strerror(errno);
      continue;
    }
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) {
        why = std::strerror(errno);
        close_fd(fd);
        continue;
      }
      // At most 2 s per attempt, so that a lost SYN is retried.
      const Deadline attempt = std::min(d, Clock::now() + std::chrono::seconds(2));
      int err = 0;
      try {
        wait_for(fd, POLLOUT, attempt);
        socklen_t len = sizeof err;
        if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
      } catch (const IoFailure&) {
        err = ETIMEDOUT;
      }
      if (err != 0) {
        // An attempt cut short by the overall deadline says nothing new: keep the reason
        // of the attempt before it (connection refused, say).
        if (err != ETIMEDOUT || attempt < d || why == "not tried") why = std::strerror(err);
        close_fd(fd);
        continue;
      }
    }
  }
  ::freeaddrinfo(list);
  if (fd >= 0) tune(fd);
  return fd;
}

class TcpBootstrap final : public Bootstrap {
 public:
  TcpBootstrap(int rank, int world, int local_rank, TcpOptions o) : Bootstrap(rank, world, local_rank), o_(std::move(o)) {
    if (world < 1 || rank < 0 || rank >= world)
      throw RendezvousError(fmt::format("rank {} of a world of {}: no such rank", rank, world));
    if (world == 1) return;  // alone: nothing to exchange
    if (rank == 0) serve();
    else join();
  }
  ~TcpBootstrap() override {
    for (int& fd : peers_) close_fd(fd);
    close_fd(listen_fd_);
    close_fd(server_fd_);
  }
  TcpBootstrap(const TcpBootstrap&) = delete;
  TcpBootstrap& operator=(const TcpBootstrap&) = delete;

  std::string describe() const override { return "tcp rendezvous at " + o_.address.str(); }

  std::string broadcast(std::string bytes) override {
    usable();
    if (world() == 1) return bytes;
    const Deadline d = Clock::now() + o_.timeout;
    if (rank() == 0) {
      for (int r = 1; r < world(); ++r) {
        try {
          send_frame(peers_[static_cast<std::size_t>(r)], FrameType::data, bytes, d);
        } catch (const IoFailure& e) {
          fail(lost(r, e, "sending it rank 0's broadcast"));
        }
      }
      return bytes;
    }
    return from_rank0("rank 0's broadcast");
  }

  std::vector<std::string> gather(std::string mine) override {
    usable();
    if (world() == 1) return {std::move(mine)};
    const Deadline d = Clock::now() + o_.timeout;
    if (rank() == 0) {
      std::vector<std::string> all(static_cast<std::size_t>(world()));
      all[0] = std::move(mine);
      for (int r = 1; r < world(); ++r) {
        try {
          Frame f = recv_frame(peers_[static_cast<std::size_t>(r)], d, max_payload);
          if (f.type != FrameType::data) fail(fmt::format("rank {} sent something else than its part of a gather", r));
          all[static_cast<std::size_t>(r)] = std::move(f.payload);
        } catch (const IoFailure& e) {
          fail(lost(r, e, "waiting for its part of a gather"));
        }
      }
      return all;
    }
    try {
      send_frame(server_fd_, FrameType::data, mine, d);
    } catch (const IoFailure& e) {
      broken_ = true;
      throw RendezvousError(fmt::format("rank {} could not send its part of a gather to rank 0 at {}: {}{}", rank(),
                                        o_.address.str(), e.text,
                                        e.kind == IoFailure::closed ? " (rank 0 probably failed: see its output)" : ""));
    }
    return {};
  }

 private:
  TcpOptions o_;
  int listen_fd_ = -1;
  std::vector<int> peers_;  // rank 0: the connection of each rank (index 0 unused)
  int server_fd_ = -1;      // other ranks: the connection to rank 0
  bool broken_ = false;

  void usable() const {
    if (broken_) throw RendezvousError("the rendezvous already failed; it cannot be used again");
  }

  std::string lost(int r, const IoFailure& e, const char* doing) const {
    if (e.kind == IoFailure::timeout)
      return fmt::format("rank 0 waited {} for rank {} ({}): is it still running?", seconds(o_.timeout), r, doing);
    if (e.kind == IoFailure::closed)
      return fmt::format("rank {} closed its connection ({}): it probably failed, see its output", r, doing);
    return fmt::format("rank 0 lost rank {} ({}): {}", r, doing, e.text);
  }

  // Rank 0: tells every rank still connected why the run ends, closes, throws.
  [[noreturn]] void fail(const std::string& why) {
    broken_ = true;
    const Deadline d = Clock::now() + std::chrono::seconds(2);
    for (int& fd : peers_) {
      if (fd < 0) continue;
      try {
        send_frame(fd, FrameType::error, why, d);
      } catch (const IoFailure&) {
      }
      close_fd(fd);
    }
    close_fd(listen_fd_);
    throw RendezvousError(why);
  }

  // Other ranks: the next frame from rank 0, which must be data. Rank 0 is the one that
  // knows which ranks never joined and says so at its own deadline, so the others wait
  // report_grace longer than the timeout: its word, not their own clock, ends the run
  // (their clocks start after rank 0's, but a loaded machine may deliver its word late).
  std::string from_rank0(const char* what) {
    const std::chrono::milliseconds waited = o_.timeout + report_grace;
    const Deadline d = Clock::now() + waited;
    try {
      Frame f = recv_frame(server_fd_, d, max_payload);
      if (f.type == FrameType::data) return std::move(f.payload);
      broken_ = true;
      if (f.type == FrameType::error) throw RendezvousError("rank 0 ended the run: " + f.payload);
      throw RendezvousError(fmt::format("rank {} expected {} and got something else", rank(), what));
    } catch (const IoFailure& e) {
      broken_ = true;
      if (e.kind == IoFailure::timeout)
        throw RendezvousError(fmt::format("rank {} waited {} for {}: is rank 0 still running?", rank(), seconds(waited), what));
      if (e.kind == IoFailure::closed)
        throw RendezvousError(fmt::format("rank 0 closed the connection while rank {} waited for {}: it probably failed, "
                                          "see its output",
                                          rank(), what));
      throw RendezvousError(fmt::format("rank {} lost rank 0 while waiting for {}: {}", rank(), what, e.text));
    }
  }

  void serve() {
    listen_fd_ = open_listener(o_.address.port);
    peers_.assign(static_cast<std::size_t>(world()), -1);
    const Deadline d = Clock::now() + o_.timeout;
    std::vector<int> pending;  // accepted, not yet introduced
    int joined = 0;
    auto refuse = [&](int& fd, const std::string& why) {
      try {
        send_frame(fd, FrameType::error, why, Clock::now() + std::chrono::seconds(2));
      } catch (const IoFailure&) {
      }
      close_fd(fd);
      for (int& p : pending) close_fd(p);
      fail(why);
    };
    while (joined < world() - 1) {
      if (ms_left(d) == 0) {
        for (int& p : pending) close_fd(p);
        std::string missing;
        int count = 0;
        for (int r = 1; r < world(); ++r)
          if (peers_[static_cast<std::size_t>(r)] < 0) {
            missing += fmt::format("{}{}", missing.empty() ? "" : ", ", r);
            ++count;
          }
        fail(fmt::format("rank 0 waited {} on port {} for rank(s) {} ({} of {} never joined): were they started, with the "
                         "same MASTER_ADDR and MASTER_PORT, and can they reach this host on that port?",
                         seconds(o_.timeout), o_.address.port, missing, count, world()));
      }
      std::vector<pollfd> fds{{listen_fd_, POLLIN, 0}};
      for (int p : pending) fds.push_back({p, POLLIN, 0});
      const int n = ::poll(fds.data(), fds.size(), std::min(ms_left(d), 1000));
      if (n < 0 && errno != EINTR) fail(fmt::format("rank 0: poll failed: {}", std::strerror(errno)));
      if (n <= 0) continue;
      std::vector<int> ready;
      for (std::size_t i = 1; i < fds.size(); ++i)
        if (fds[i].revents != 0) ready.push_back(fds[i].fd);
      if (fds[0].revents & POLLIN) {
        for (;;) {
          const int c = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          tune(c);
          pending.push_back(c);
        }
      }
      for (int fd : ready) {
        pending.erase(std::find(pending.begin(), pending.end(), fd));
        Frame f;
        try {
          // A peer that connected has its hello on the way; a stranger gets 10 s at most.
          f = recv_frame(fd, std::min(d, Clock::now() + std::chrono::seconds(10)), 64);
        } catch (const IoFailure&) {
          ::close(fd);  // not one of ours, or it died while joining: ignore it
          continue;
        }
        if (f.type != FrameType::hello || f.payload.size() != 12) {
          ::close(fd);
          continue;
        }
        const auto* p = reinterpret_cast<const unsigned char*>(f.payload.data());
        const std::uint32_t version = get_u32(p);
        const auto r = static_cast<int>(get_u32(p + 4));
        const auto w = static_cast<int>(get_u32(p + 8));
        int c = fd;
        if (version != protocol_version)
          refuse(c, fmt::format("a process speaks rendezvous protocol {}, rank 0 protocol {}: run the same xattn build on "
                                "every node",
                                version, protocol_version));
        if (w != world())
          refuse(c, fmt::format("rank {} was started in a world of {} processes, rank 0 in a world of {}: every process "
                                "must see the same world size (check the launcher's variables)",
                                r, w, world()));
        if (r <= 0 || r >= world())
          refuse(c, fmt::format("a second process says it is rank {} of {} (rank 0 listens here already): check the "
                                "launcher's variables",
                                r, world()));
        if (peers_[static_cast<std::size_t>(r)] >= 0)
          refuse(c, fmt::format("two processes say they are rank {} of {}: check the launcher's variables", r, world()));
        try {
          send_frame(c, FrameType::welcome, {}, Clock::now() + std::chrono::seconds(10));
        } catch (const IoFailure&) {
          ::close(c);  // it went away before being welcomed: it may come back
          continue;
        }
        peers_[static_cast<std::size_t>(r)] = c;
        ++joined;
      }
    }
    close_fd(listen_fd_);
  }

  void join() {
    const Deadline d = Clock::now() + o_.timeout;
    std::string why = "not tried";
    auto backoff = std::chrono::milliseconds(20);
    for (;;) {
      int fd = try_connect(o_.address, d, why);
      if (fd >= 0) {
        std::string hello;
        put_u32(hello, protocol_version);
        put_u32(hello, static_cast<std::uint32_t>(rank()));
        put_u32(hello, static_cast<std::uint32_t>(world()));
        try {
          send_frame(fd, FrameType::hello, hello, d);
          Frame f = recv_frame(fd, d, max_payload);
          if (f.type == FrameType::welcome) {
            server_fd_ = fd;
            return;
          }
          close_fd(fd);
          if (f.type == FrameType::error) throw RendezvousError(fmt::format("rank 0 turned rank {} away: {}", rank(), f.payload));
          throw RendezvousError(fmt::format("rank {}: {} answered the hello with something else", rank(), o_.address.str()));
        } catch (const IoFailure& e) {
          close_fd(fd);
          if (e.kind == IoFailure::timeout)
            throw RendezvousError(fmt::format("rank {} connected to {} but got no answer within {}: is that rank 0 of "
                                              "this run?",
                                              rank(), o_.address.str(), seconds(o_.timeout)));
          throw RendezvousError(fmt::format("rank {}: {} closed the connection while it was joining ({}): is that rank 0 "
                                            "of this run?",
                                            rank(), o_.address.str(), e.text));
        }
      }
      if (ms_left(d) == 0)
        throw RendezvousError(fmt::format("rank {} could not reach rank 0 at {} for {} (last error: {}): is rank 0 "
                                          "running, and do all processes use the same MASTER_ADDR and MASTER_PORT?",
                                          rank(), o_.address.str(), seconds(o_.timeout), why));
      std::this_thread::sleep_for(std::min(backoff, std::chrono::milliseconds(ms_left(d))));
      backoff = std::min(backoff * 2, std::chrono::milliseconds(500));
    }
  }
};

}  // namespace

std::unique_ptr<Bootstrap> tcp_bootstrap(int rank, int world, int local_rank, const TcpOptions& o) {
  return std::make_unique<TcpBootstrap>(rank, world, local_rank, o);
}

#ifndef XATTN_HAVE_MPI
bool mpi_built() { return false; }
std::unique_ptr<Bootstrap> mpi_bootstrap() {
  throw RendezvousError("this xattn was built without MPI (install an MPI, e.g. libopenmpi-dev, and reconfigure), or use "
                        "the TCP rendezvous (--launch tcp)");
}
#endif

}  // namespace xattn::gpu
