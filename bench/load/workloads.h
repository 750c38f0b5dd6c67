// rametcd-bench's workloads: each sets up what it needs (objects to list or count, watches),
// runs its Ops (kv_ops.h, watch_streams.h) with closed-loop clients, and reports.
//
//   put          PutOp over --key-space keys under /registry/bench/put/
//   fill         SequentialPutOp: --objects keys of --val-size bytes under /registry/bench/fill/
//   txn-put      OptimisticPutOp on random keys of --key-space under /registry/bench/txn/
//   lease-flood  OptimisticPutOp, client c cycling through its own --keys-per-client keys of
//                /registry/leases/kube-node-lease/, 300-byte values (a kubelet's node Lease)
//   list         --objects objects of --object-size bytes under /registry/pods/bench-list/, then
//                ListPageOp pages (requests/s counts pages; lists/s is reported beside)
//   count        --objects keys of 16-byte values under /registry/bench-count/ (a resource
//                prefix of its own, as kube-apiserver counts one resource), then CountOp
//   watch        --streams streams x --watches watches on keys /registry/pods/bench-watch/...,
//                then TimedPutOp round-robin over them (closed loop, or open loop at --rate):
//                delivered events/s and put-to-event latency
//   k8s-mix      setup: --objects pods (2 KiB) in 20 namespaces and 1000 nodes (4 KiB); then
//                per request: 55% node Lease update (OptimisticPut, 300 B), 20% pod status
//                update (OptimisticPut, 2 KiB), 10% event create (Put, 500 B), 5% node status
//                update (OptimisticPut, 4 KiB), 10% list of one namespace's pods (first page,
//                limit --page-limit); meanwhile one prefix watch per resource, as the
//                apiserver's watch cache keeps.
// The request latencies reported are of the measured requests only, not of the setup.
#ifndef RAMETCD_BENCH_LOAD_WORKLOADS_H_
#define RAMETCD_BENCH_LOAD_WORKLOADS_H_

#include "absl/status/statusor.h"
#include "load/options.h"
#include "load/stats.h"

namespace rametcd::bench {

absl::StatusOr<Report> RunWorkload(const Options& options);

}  // namespace rametcd::bench

#endif  // RAMETCD_BENCH_LOAD_WORKLOADS_H_
