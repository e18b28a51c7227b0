// ICMP echo round trips to several targets from one process with one timer, for the latency bench.
// Targets are pinged in turn (round-robin), so every path sees the same machine state; each round
// trip is (kernel receive timestamp of the reply, SO_TIMESTAMPNS) - (clock read just before
// sendto), both CLOCK_REALTIME, so the pinger's own wake-up after the reply is not counted.
//
//   icmp-pinger RATE ROUNDS PAYLOAD TARGET...
//     RATE     echo requests per second in total (each target gets RATE / number of targets)
//     ROUNDS   requests per target
//     PAYLOAD  ICMP data octets (>= 16: the send time travels in the payload)
// stdout: one line per reply "R <target index> <seq> <rtt ns>", then "DONE <sent> <received>".
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_TARGETS 8

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint16_t checksum(const uint8_t *p, size_t n) {
  uint32_t s = 0;
  for (size_t i = 0; i + 1 < n; i += 2) s += (uint32_t)(p[i] << 8 | p[i + 1]);
  if (n & 1) s += (uint32_t)p[n - 1] << 8;
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return (uint16_t)~s;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: %s RATE ROUNDS PAYLOAD TARGET...\n", argv[0]);
    return 2;
  }
  double rate = atof(argv[1]);
  long rounds = atol(argv[2]);
  int payload = atoi(argv[3]);
  int ntargets = argc - 4;
  if (rate <= 0 || rounds <= 0 || payload < 16 || payload > 1472 || ntargets > MAX_TARGETS) {
    fprintf(stderr, "bad arguments\n");
    return 2;
  }
  struct sockaddr_in targets[MAX_TARGETS];
  for (int i = 0; i < ntargets; i++) {
    memset(&targets[i], 0, sizeof targets[i]);
    targets[i].sin_family = AF_INET;
    if (inet_pton(AF_INET, argv[4 + i], &targets[i].sin_addr) != 1) {
      fprintf(stderr, "bad address %s\n", argv[4 + i]);
      return 2;
    }
  }
  int fd = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
  if (fd < 0) {
    perror("socket SOCK_RAW IPPROTO_ICMP");
    return 1;
  }
  int on = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) < 0) {
    perror("SO_TIMESTAMPNS");
    return 1;
  }
  uint16_t ident = (uint16_t)getpid();
  uint8_t out[8 + 1472];
  uint8_t in[2048];
  char control[256];
  long total = rounds * ntargets, sent = 0, received = 0;
  uint64_t period = (uint64_t)(1e9 / rate);
  uint64_t next = mono_ns();
  uint64_t end = 0; // set after the last send: wait 1 s for late replies
  setvbuf(stdout, NULL, _IOFBF, 1 << 16);

  for (;;) {
    uint64_t t = mono_ns();
    if (sent < total && t >= next) {
      int target = (int)(sent % ntargets);
      uint16_t seq = (uint16_t)(sent / ntargets);
      memset(out, 0, 8 + (size_t)payload);
      out[0] = ICMP_ECHO;
      out[4] = ident >> 8;
      out[5] = ident & 0xff;
      out[6] = seq >> 8;
      out[7] = seq & 0xff;
      out[16] = (uint8_t)target;
      uint64_t ts = now_ns();
      memcpy(out + 8, &ts, 8);
      uint16_t c = checksum(out, 8 + (size_t)payload);
      out[2] = c >> 8;
      out[3] = c & 0xff;
      if (sendto(fd, out, 8 + (size_t)payload, 0, (struct sockaddr *)&targets[target], sizeof targets[target]) < 0)
        fprintf(stderr, "sendto %s: %s\n", argv[4 + target], strerror(errno));
      sent++;
      next += period;
      if (sent == total) end = mono_ns() + 1000000000ull;
      continue;
    }
    if (sent == total && (received == total || t >= end)) break;
    uint64_t wake = sent < total ? next : end;
    uint64_t wait = wake > t ? wake - t : 0;
    struct timespec timeout = {(time_t)(wait / 1000000000ull), (long)(wait % 1000000000ull)};
    struct pollfd p = {fd, POLLIN, 0};
    if (ppoll(&p, 1, &timeout, NULL) <= 0) continue;
    for (;;) {
      struct iovec iov = {in, sizeof in};
      struct msghdr m = {0};
      m.msg_iov = &iov;
      m.msg_iovlen = 1;
      m.msg_control = control;
      m.msg_controllen = sizeof control;
      ssize_t n = recvmsg(fd, &m, MSG_DONTWAIT);
      if (n < 0) break;
      uint64_t rx = 0;
      for (struct cmsghdr *cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm)) {
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SO_TIMESTAMPNS) {
          struct timespec ts;
          memcpy(&ts, CMSG_DATA(cm), sizeof ts);
          rx = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
        }
      }
      if (n < 20) continue;
      size_t ihl = (size_t)(in[0] & 0x0f) * 4;
      if ((size_t)n < ihl + 17) continue;
      const uint8_t *icmp = in + ihl;
      if (icmp[0] != ICMP_ECHOREPLY || (uint16_t)(icmp[4] << 8 | icmp[5]) != ident) continue;
      uint64_t tx;
      memcpy(&tx, icmp + 8, 8);
      int target = icmp[16];
      if (target >= ntargets || rx == 0) continue;
      received++;
      printf("R %d %u %llu\n", target, (unsigned)(icmp[6] << 8 | icmp[7]), (unsigned long long)(rx - tx));
    }
  }
  printf("DONE %ld %ld\n", sent, received);
  return 0;
}
