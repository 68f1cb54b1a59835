/* A NUT-protocol load generator in C: closed-loop clients on epoll, one request in flight per connection.
 *
 * bench/upsd.py compiles it with the system's cc and drives NUT's upsd and ours with it in the same run. Written
 * in C so that the generator, not the server, is never what limits the rate: the Python generator saturates its
 * core at about 60000 requests/s, which hid the servers' real capacity at 10 and 100 connections.
 *
 *     loadgen HOST PORT REQUEST CONNECTIONS SECONDS
 *
 * A request is done when its reply is complete: one line for GET, up to the "END LIST" line for LIST.
 * Prints one line: "<requests> <elapsed seconds> <p50 ms> <p99 ms>".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define REPLY_MAX (256 * 1024)

struct client {
    int fd;
    size_t have;
    double started;
    char buf[REPLY_MAX];
};

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* True once buf holds a whole reply: the first line, or for a list everything up to "END LIST ...\n". */
static int reply_complete(const char *buf, size_t have, int is_list) {
    const char *newline = memchr(buf, '\n', have);
    if (newline == NULL)
        return 0;
    if (!is_list || strncmp(buf, "BEGIN", 5) != 0)
        return 1;
    if (have < 2 || buf[have - 1] != '\n')
        return 0;
    const char *last = buf + have - 2;
    while (last > buf && *last != '\n')
        last--;
    return strncmp(last + 1, "END", 3) == 0;
}

static int send_request(struct client *c, const char *request, size_t length) {
    c->have = 0;
    c->started = now();
    return write(c->fd, request, length) == (ssize_t)length ? 0 : -1;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s HOST PORT REQUEST CONNECTIONS SECONDS\n", argv[0]);
        return 2;
    }
    char request[1024];
    snprintf(request, sizeof request, "%s\n", argv[3]);
    size_t length = strlen(request);
    int is_list = strncasecmp(request, "LIST", 4) == 0;
    int count = atoi(argv[4]);
    double seconds = atof(argv[5]);

    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
    if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1) {
        fprintf(stderr, "loadgen: bad IPv4 address %s\n", argv[1]);
        return 2;
    }
    int ep = epoll_create1(0);
    struct client *clients = calloc(count, sizeof *clients);
    size_t capacity = 1 << 20, done = 0;
    double *latencies = malloc(capacity * sizeof *latencies);
    if (clients == NULL || latencies == NULL || ep < 0) {
        perror("loadgen");
        return 1;
    }
    for (int i = 0; i < count; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
        if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
            perror("loadgen: connect");
            return 1;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        clients[i].fd = fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &clients[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    double start = now(), deadline = start + seconds;
    for (int i = 0; i < count; i++)
        if (send_request(&clients[i], request, length) != 0) {
            perror("loadgen: write");
            return 1;
        }
    int active = count;
    struct epoll_event events[256];
    while (active > 0) {
        int ready = epoll_wait(ep, events, 256, 1000);
        if (ready < 0 && errno != EINTR) {
            perror("loadgen: epoll_wait");
            return 1;
        }
        for (int k = 0; k < ready; k++) {
            struct client *c = events[k].data.ptr;
            ssize_t got = read(c->fd, c->buf + c->have, REPLY_MAX - c->have);
            if (got <= 0) {
                fprintf(stderr, "loadgen: server closed the connection\n");
                return 1;
            }
            c->have += got;
            if (!reply_complete(c->buf, c->have, is_list))
                continue;
            double finished = now();
            if (done == capacity) {
                capacity *= 2;
                latencies = realloc(latencies, capacity * sizeof *latencies);
                if (latencies == NULL) {
                    perror("loadgen");
                    return 1;
                }
            }
            latencies[done++] = finished - c->started;
            if (finished >= deadline) {
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                active--;
            } else if (send_request(c, request, length) != 0) {
                perror("loadgen: write");
                return 1;
            }
        }
    }
    double elapsed = now() - start;
    qsort(latencies, done, sizeof *latencies, by_value);
    double p50 = done ? latencies[done / 2] : 0, p99 = done ? latencies[(size_t)((done - 1) * 0.99)] : 0;
    printf("%zu %.6f %.6f %.6f\n", done, elapsed, p50 * 1000, p99 * 1000);
    return 0;
}
