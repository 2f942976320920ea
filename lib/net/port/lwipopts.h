/*
 * lwIP's options for tinyvio: NO_SYS (one loop, raw API, no threads), IPv4
 * with ARP, ICMP, DHCP, UDP and TCP, memory in static pools, sized for 32
 * connections and for throughput (window scaling, a 128 KiB receive window
 * and send buffer).  Every other option keeps lwIP's default
 * (src/include/lwip/opt.h says what each one does).
 */
#ifndef LIB_NET_PORT_LWIPOPTS_H
#define LIB_NET_PORT_LWIPOPTS_H

/* One loop, no threads.  Interrupt handlers never touch lwIP (they only
 * wake the loop), so nothing needs protecting from them. */
#define NO_SYS 1
#define SYS_LIGHTWEIGHT_PROT 0
#define LWIP_SOCKET 0
#define LWIP_NETCONN 0

/* Memory: lwIP's own heap and pools, in static arrays. */
#define MEM_ALIGNMENT 8
#define MEM_SIZE (1024 * 1024) /* PBUF_RAM: copied TCP data, copied frames */
#define MEMP_NUM_PBUF 256 /* pbufs that point at data elsewhere (PBUF_REF/ROM) */
#define PBUF_POOL_SIZE 96 /* a TCP window's worth, for frames copied out of the ring */
#define MEMP_NUM_RAW_PCB 4
#define MEMP_NUM_UDP_PCB 16 /* the TFTP server and its 8 transfers, DHCP, and some */
#define MEMP_NUM_TCP_PCB 40 /* 32 connections, and some in TIME_WAIT */
#define MEMP_NUM_TCP_PCB_LISTEN 8
#define MEMP_NUM_TCP_SEG 1024
#define MEMP_NUM_REASSDATA 8
#define MEMP_NUM_ARP_QUEUE 32
#define MEMP_NUM_SYS_TIMEOUT (LWIP_NUM_SYS_TIMEOUT_INTERNAL + 8)

/* Link and IP. */
#define LWIP_ARP 1
#define ARP_TABLE_SIZE 16
#define ARP_QUEUEING 1
#define LWIP_ETHERNET 1
#define LWIP_IPV4 1
#define LWIP_IPV6 0
#define IP_REASSEMBLY 1
#define IP_FRAG 1
#define IP_REASS_MAX_PBUFS 64
#define MEMP_NUM_FRAG_PBUF 48 /* a 64 KiB datagram (TFTP blksize 65464) in 1480-byte fragments */
#define LWIP_ICMP 1
#define LWIP_RAW 1 /* ping's echo requests */
#define LWIP_DHCP 1
#define LWIP_DHCP_CHECK_LINK_UP 1
#define LWIP_AUTOIP 0
#define LWIP_IGMP 0
#define LWIP_DNS 0 /* no names: addresses are dotted */
#define LWIP_UDP 1
#define LWIP_NETIF_HOSTNAME 1 /* DHCP tells the server our name */
#define LWIP_NETIF_STATUS_CALLBACK 1
#define LWIP_SINGLE_NETIF 0

/* TCP. */
#define LWIP_TCP 1
#define TCP_MSS 1460
#define LWIP_WND_SCALE 1
#define TCP_RCV_SCALE 2
#define TCP_WND (128 * 1024)
#define TCP_SND_BUF (128 * 1024)
#define TCP_SND_QUEUELEN ((4 * TCP_SND_BUF + TCP_MSS - 1) / TCP_MSS)
#define TCP_SNDLOWAT (32 * 1024) /* "writable" again; lwIP keeps it in 16 bits */
#define TCP_QUEUE_OOSEQ 1
#define TCP_OOSEQ_MAX_PBUFS 64 /* what the out-of-order queue may hold of the receive ring */
#define TCP_LISTEN_BACKLOG 1
#define SO_REUSE 1 /* a service restarts on its port while old connections wait in TIME_WAIT */

/* Checksums: the glue turns TCP's off per interface where the device
 * offloads them (lib/net/netif.c). */
#define LWIP_CHECKSUM_CTRL_PER_NETIF 1
/* Not on copy: lwIP's copy-and-sum is a copy, then a sum, so it saves no
 * pass over the data, and it sums even where the device does (the netif's
 * flags are looked at only when a segment goes out). */
#define LWIP_CHECKSUM_ON_COPY 0

/* Receive buffers are handed to lwIP as they are (custom pbufs). */
#define LWIP_SUPPORT_CUSTOM_PBUF 1

#define LWIP_STATS 0

#endif
