/*
 * floor_responder: the least a DHCPv4 server can do per exchange, to measure the kernel's
 * share of a DORA on a machine (bench/bench.py kinds floor-none and floor-fsync).
 *
 * One thread, one UDP socket bound to 0.0.0.0:67 on IFACE (SO_BINDTODEVICE, as netdhcpd
 * and Kea bind), blocking ppoll, then one recvmmsg of up to BATCH datagrams, an OFFER for
 * each DISCOVER and an ACK for each REQUEST, and one sendmmsg for the batch's replies. No
 * lease state: OFFERs take addresses from a counter over 100.64.1.0 upward, ACKs give the
 * requested address (option 50, else ciaddr). Replies go where RFC 2131 4.1 sends them: to
 * giaddr:67 when relayed (perfdhcp sets giaddr), to ciaddr:68, else broadcast to port 68.
 *
 * --fsync FILE: for a batch holding ACKs, one write() of a ~100-byte Kea-style CSV row per
 * ACK appended to FILE, then fdatasync(), then the batch's replies: the least a server must
 * do before an ACK for the lease to survive a crash.
 *
 * Prints "READY" on stdout once bound; on SIGTERM or SIGINT prints its counters and exits 0.
 *
 * Build: gcc -O2 -Wall -o floor_responder floor_responder.c
 * Usage: floor_responder IFACE [--fsync FILE]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define PKT_MAX 1500
#define REPLY_MIN 300 /* BOOTP minimum message size (RFC 1542), as Kea pads */
#define LEASE_SECONDS 4000
#define CSV_ROW_MAX 160

enum { DHCPDISCOVER = 1, DHCPOFFER = 2, DHCPREQUEST = 3, DHCPACK = 5 };

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig) {
    (void)sig;
    stop_requested = 1;
}

struct counters {
    unsigned long wakeups, received, offers, acks, ignored, sent, send_errors, fsyncs;
};

/* The DHCP message type (option 53) and requested address (option 50, network order, 0 when
 * absent) of a BOOTREQUEST; returns 0 when the datagram is not a DHCP request. */
static int parse_request(const uint8_t *p, size_t len, uint32_t *requested) {
    static const uint8_t cookie[4] = {99, 130, 83, 99};
    int type = 0;
    *requested = 0;
    if (len < 240 || p[0] != 1 || memcmp(p + 236, cookie, 4) != 0)
        return 0;
    size_t i = 240;
    while (i < len) {
        uint8_t code = p[i];
        if (code == 0) {
            i++;
            continue;
        }
        if (code == 255 || i + 1 >= len)
            break;
        uint8_t olen = p[i + 1];
        if (i + 2 + olen > len)
            break;
        if (code == 53 && olen == 1)
            type = p[i + 2];
        else if (code == 50 && olen == 4)
            memcpy(requested, p + i + 2, 4);
        i += 2 + (size_t)olen;
    }
    return type;
}

static uint8_t *put_option(uint8_t *o, uint8_t code, const void *value, uint8_t len) {
    o[0] = code;
    o[1] = len;
    memcpy(o + 2, value, len);
    return o + 2 + len;
}

/* Builds the reply of `type` to request `rq` giving address `yiaddr` (network order) into
 * `out`; returns its length. */
static size_t build_reply(const uint8_t *rq, uint8_t type, uint32_t yiaddr, uint32_t server_id, uint8_t *out) {
    memset(out, 0, REPLY_MIN);
    out[0] = 2;                   /* op: BOOTREPLY */
    memcpy(out + 1, rq + 1, 2);   /* htype, hlen */
    memcpy(out + 4, rq + 4, 4);   /* xid */
    memcpy(out + 10, rq + 10, 2); /* flags */
    memcpy(out + 12, rq + 12, 4); /* ciaddr */
    memcpy(out + 16, &yiaddr, 4); /* yiaddr */
    memcpy(out + 24, rq + 24, 4); /* giaddr */
    memcpy(out + 28, rq + 28, 16); /* chaddr */
    memcpy(out + 236, rq + 236, 4); /* magic cookie */
    uint8_t *o = out + 240;
    uint32_t lease = htonl(LEASE_SECONDS), netmask = htonl(0xffc00000u); /* /10 */
    o = put_option(o, 53, &type, 1);
    o = put_option(o, 54, &server_id, 4);
    o = put_option(o, 51, &lease, 4);
    o = put_option(o, 1, &netmask, 4);
    *o++ = 255;
    size_t len = (size_t)(o - out);
    return len < REPLY_MIN ? REPLY_MIN : len;
}

/* Where RFC 2131 4.1 sends the reply to `rq`. */
static struct sockaddr_in destination(const uint8_t *rq) {
    struct sockaddr_in to = {.sin_family = AF_INET};
    uint32_t giaddr, ciaddr;
    memcpy(&giaddr, rq + 24, 4);
    memcpy(&ciaddr, rq + 12, 4);
    if (giaddr) {
        to.sin_addr.s_addr = giaddr;
        to.sin_port = htons(67);
    } else if (ciaddr) {
        to.sin_addr.s_addr = ciaddr;
        to.sin_port = htons(68);
    } else {
        to.sin_addr.s_addr = htonl(INADDR_BROADCAST);
        to.sin_port = htons(68);
    }
    return to;
}

/* A Kea memfile-style row for the lease of ACK `reply`. */
static int csv_row(char *row, const uint8_t *reply, time_t now) {
    char addr[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, reply + 16, addr, sizeof addr);
    const uint8_t *m = reply + 28;
    return snprintf(row, CSV_ROW_MAX,
                    "%s,%02x:%02x:%02x:%02x:%02x:%02x,01:%02x:%02x:%02x:%02x:%02x:%02x,%d,%lld,1,0,0,,0,\n",
                    addr, m[0], m[1], m[2], m[3], m[4], m[5], m[0], m[1], m[2], m[3], m[4], m[5],
                    LEASE_SECONDS, (long long)now + LEASE_SECONDS);
}

static int open_socket(const char *iface) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0) {
        perror("socket");
        return -1;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one) < 0) {
        perror("setsockopt");
        return -1;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, iface, (socklen_t)strlen(iface)) < 0) {
        fprintf(stderr, "SO_BINDTODEVICE %s: %s\n", iface, strerror(errno));
        return -1;
    }
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(67), .sin_addr.s_addr = htonl(INADDR_ANY)};
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        perror("bind 0.0.0.0:67");
        return -1;
    }
    return fd;
}

int main(int argc, char **argv) {
    const char *iface = NULL, *fsync_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--fsync") == 0 && i + 1 < argc)
            fsync_path = argv[++i];
        else if (!iface && argv[i][0] != '-')
            iface = argv[i];
        else {
            iface = NULL;
            break;
        }
    }
    if (!iface) {
        fprintf(stderr, "usage: %s IFACE [--fsync FILE]\n", argv[0]);
        return 2;
    }

    /* SIGTERM and SIGINT are blocked except inside ppoll, so a stop request is never lost
     * between the check and the wait. */
    sigset_t stop_signals, wait_mask;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    sigprocmask(SIG_BLOCK, &stop_signals, &wait_mask);
    sigdelset(&wait_mask, SIGTERM);
    sigdelset(&wait_mask, SIGINT);
    struct sigaction sa = {.sa_handler = on_stop};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    int fd = open_socket(iface);
    if (fd < 0)
        return 1;
    int lease_fd = -1;
    if (fsync_path) {
        lease_fd = open(fsync_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (lease_fd < 0) {
            fprintf(stderr, "open %s: %s\n", fsync_path, strerror(errno));
            return 1;
        }
    }
    uint32_t server_id = htonl(0x64400001u); /* 100.64.0.1 */
    uint32_t next_address = 0x64400100u;     /* 100.64.1.0, host order */

    static uint8_t in[BATCH][PKT_MAX], out[BATCH][PKT_MAX];
    static char rows[BATCH * CSV_ROW_MAX];
    struct iovec in_iov[BATCH], out_iov[BATCH];
    struct mmsghdr in_msg[BATCH], out_msg[BATCH];
    struct sockaddr_in out_to[BATCH];
    for (int i = 0; i < BATCH; i++) {
        in_iov[i] = (struct iovec){.iov_base = in[i], .iov_len = PKT_MAX};
        in_msg[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &in_iov[i], .msg_iovlen = 1}};
        out_iov[i] = (struct iovec){.iov_base = out[i]};
        out_msg[i] = (struct mmsghdr){.msg_hdr = {.msg_name = &out_to[i], .msg_namelen = sizeof out_to[i],
                                                  .msg_iov = &out_iov[i], .msg_iovlen = 1}};
    }
    struct counters c = {0};
    struct pollfd pfd = {.fd = fd, .events = POLLIN};

    printf("READY\n");
    fflush(stdout);

    while (!stop_requested) {
        int ready = ppoll(&pfd, 1, NULL, &wait_mask);
        if (ready < 0) {
            if (errno == EINTR)
                continue;
            perror("ppoll");
            return 1;
        }
        c.wakeups++;
        int n = recvmmsg(fd, in_msg, BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0)
            continue;
        c.received += (unsigned long)n;
        int replies = 0, acks = 0;
        size_t rows_len = 0;
        time_t now = time(NULL);
        for (int i = 0; i < n; i++) {
            const uint8_t *rq = in[i];
            uint32_t requested;
            int type = parse_request(rq, in_msg[i].msg_len, &requested);
            uint32_t yiaddr;
            uint8_t reply_type;
            if (type == DHCPDISCOVER) {
                yiaddr = htonl(next_address++);
                reply_type = DHCPOFFER;
            } else if (type == DHCPREQUEST) {
                if (!requested)
                    memcpy(&requested, rq + 12, 4); /* renewing: ciaddr */
                yiaddr = requested ? requested : htonl(next_address++);
                reply_type = DHCPACK;
            } else {
                c.ignored++;
                continue;
            }
            out_iov[replies].iov_len = build_reply(rq, reply_type, yiaddr, server_id, out[replies]);
            out_to[replies] = destination(rq);
            out_msg[replies].msg_hdr.msg_namelen = sizeof out_to[replies];
            if (reply_type == DHCPACK) {
                acks++;
                if (lease_fd >= 0)
                    rows_len += (size_t)csv_row(rows + rows_len, out[replies], now);
            } else {
                c.offers++;
            }
            replies++;
        }
        c.acks += (unsigned long)acks;
        if (lease_fd >= 0 && acks > 0) {
            if (write(lease_fd, rows, rows_len) != (ssize_t)rows_len || fdatasync(lease_fd) != 0) {
                perror("lease file");
                return 1;
            }
            c.fsyncs++;
        }
        for (int done = 0; done < replies;) {
            int sent = sendmmsg(fd, out_msg + done, (unsigned)(replies - done), 0);
            if (sent < 0) {
                c.send_errors++;
                done++; /* skip the datagram the kernel refused */
                continue;
            }
            c.sent += (unsigned long)sent;
            done += sent;
        }
    }
    printf("stopped: wakeups %lu received %lu offers %lu acks %lu ignored %lu sent %lu send_errors %lu "
           "fsyncs %lu\n",
           c.wakeups, c.received, c.offers, c.acks, c.ignored, c.sent, c.send_errors, c.fsyncs);
    if (lease_fd >= 0)
        close(lease_fd);
    close(fd);
    return 0;
}
