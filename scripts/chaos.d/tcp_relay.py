#!/usr/bin/env python3
"""A TCP relay between the workers and PostgreSQL, for simulating a hung path.

    tcp_relay.py LISTEN_PORT TARGET_PORT

Listens on 127.0.0.1:LISTEN_PORT and pipes every connection to
127.0.0.1:TARGET_PORT. Stopping it with SIGSTOP leaves every connection open
but silent, as a dead route or a stateful firewall that dropped its entry
would (this kernel has no netem to drop packets). Prints "relaying" once it
listens.
"""
import socket
import sys
import threading


def pipe(source, destination):
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            destination.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, destination):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def main():
    listen_port, target_port = int(sys.argv[1]), int(sys.argv[2])
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", listen_port))
    server.listen(256)
    print("relaying", flush=True)
    while True:
        client, _ = server.accept()
        try:
            upstream = socket.create_connection(("127.0.0.1", target_port))
        except OSError:
            client.close()
            continue
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=pipe, args=(a, b), daemon=True).start()


if __name__ == "__main__":
    main()
