// rametcd-recover: offline inspection and repair of a rametcd data dir's WAL, and offline
// migration between etcd and rametcd.
//
//   rametcd-recover verify DIR
//   rametcd-recover dump DIR [--prefix P] [--json]
//   rametcd-recover repair DIR [--backup-dir B]
//   rametcd-recover compact DIR [--revision R]
//   rametcd-recover export-etcd-snapshot DIR FILE [--force]
//   rametcd-recover import-etcd DIR --from FILE
//
// This file parses the command line (flags as --name VALUE or --name=VALUE) and runs the command
// (commands.h). Unknown commands or flags print the usage to stderr and exit 2.
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/numbers.h"
#include "tools/recover/commands.h"

namespace rametcd::recover {
namespace {

constexpr std::string_view kUsage =
    "Usage: rametcd-recover COMMAND DIR [FLAGS]\n"
    "\n"
    "Offline tool for a rametcd data dir (DIR holds wal/). Commands:\n"
    "  verify   check every record of every stream file\n"
    "  dump     print every record in stream order\n"
    "  repair   back up and truncate damaged log segments\n"
    "  compact  rewrite every stream as one compacted checkpoint\n"
    "  export-etcd-snapshot  write DIR's state as an etcd 3.4 snapshot file (etcdctl restores it)\n"
    "  import-etcd           fill an empty DIR from an etcd snapshot or a stopped etcd's db\n"
    "\n"
    "Run `rametcd-recover COMMAND --help` for a command's flags.\n"
    "Exit codes: 0 ok, 1 torn tails only (verify), 2 usage or refusal to overwrite, 3 corruption "
    "(of DIR or of the etcd file to import), 4 unreadable, unwritable or locked files.\n";

struct Command {
  std::string_view help;
  std::vector<std::string_view> value_flags;
  std::vector<std::string_view> bool_flags;
  std::vector<std::string_view> operands = {"DIR"};  // positional arguments, all required
};

const std::map<std::string_view, Command>& Commands() {
  static const auto* commands = new std::map<std::string_view, Command>{
      {"verify",
       {"Usage: rametcd-recover verify DIR\n"
        "\n"
        "Checks every record of every stream file under DIR/wal, skipping damage to find all of "
        "it, and that checkpoints are whole and file headers name their stream; then reads the "
        "undamaged streams as the server does (every record in its place, revisions and batches "
        "in order) and checks that every WAL batch is whole. Prints one line per stream, one per "
        "damaged region (file and offset, torn or corrupt) and one per incomplete batch.\n"
        "Exit codes: 0 clean; 1 only torn tails at the end of streams' newest logs or an "
        "incomplete last batch (what a crash leaves; the server cuts them off on start); 3 "
        "corruption; 4 DIR cannot be read.\n",
        {},
        {}}},
      {"dump",
       {"Usage: rametcd-recover dump DIR [--prefix P] [--json]\n"
        "\n"
        "Prints every record in stream order (checkpoint, then log segments) with its file and "
        "offset. Damage is skipped and reported on stderr.\n"
        "  --prefix P  only records of keys starting with P (only their matching changes)\n"
        "  --json      one JSON object per line: the record plus \"stream\", \"file\" and "
        "\"offset\" (keys and values in base64)\n",
        {"prefix"},
        {"json"}}},
      {"repair",
       {"Usage: rametcd-recover repair DIR [--backup-dir B]\n"
        "\n"
        "For every log segment with damage (torn or corrupt), copies the file to the backup dir, "
        "then truncates it at its first damaged offset. A damaged checkpoint cannot be repaired "
        "this way: it is reported and left alone. Then, as the server does on start, cuts an "
        "incomplete last WAL batch off every stream (backed up the same way). Takes the data "
        "dir's lock: the server must be stopped.\n"
        "  --backup-dir B  where damaged files are copied to (default "
        "DIR/wal-backup-<unix-seconds>), as B/<stream-dir>/<file>\n"
        "Exit codes: 0 repaired or nothing to repair; 3 a file could not be repaired; 4 DIR "
        "cannot be read or is in use.\n",
        {"backup-dir"},
        {}}},
      {"compact",
       {"Usage: rametcd-recover compact DIR [--revision R]\n"
        "\n"
        "Rewrites every stream as one checkpoint holding its state, compacted at the store's "
        "compaction point (or R if higher), and deletes the log segments it replaces. Prints "
        "each stream's size before and after. Takes the data dir's lock: the server must be "
        "stopped.\n"
        "  --revision R  compact at least up to revision R\n"
        "Exit codes: 0 done; 2 bad flags; 3 damaged data (run repair first); 4 DIR cannot be "
        "read or is in use.\n",
        {"revision"},
        {}}},
      {"export-etcd-snapshot",
       {"Usage: rametcd-recover export-etcd-snapshot DIR FILE [--force]\n"
        "\n"
        "Writes the state of the data dir DIR as an etcd 3.4 snapshot FILE (etcd's bbolt backend "
        "with the sha256 trailer of `etcdctl snapshot save`): every key version etcd would "
        "retain, the compaction point, the revision and the leases with their granted TTLs. DIR "
        "is loaded as the server loads it on start (torn tails are cut off). Takes the data "
        "dir's lock: the server must be stopped. The snapshot's membership is etcd's default "
        "member (\"default\", http://localhost:2380); `etcdctl snapshot restore FILE --name N "
        "--initial-cluster ... --initial-advertise-peer-urls ... --data-dir D` replaces it with "
        "its own. FILE is written as FILE.tmp and renamed when complete.\n"
        "  --force  replace FILE if it exists (without it, an existing FILE is an error)\n"
        "Exit codes: 0 done; 2 bad arguments or FILE exists; 3 DIR is damaged (run verify); 4 "
        "DIR holds no rametcd data, DIR or FILE cannot be read or written, or DIR is in use.\n",
        {},
        {"force"},
        {"DIR", "FILE"}}},
      {"import-etcd",
       {"Usage: rametcd-recover import-etcd DIR --from FILE\n"
        "\n"
        "Creates the data dir DIR (or fills an empty one) from FILE: an etcd snapshot "
        "(`etcdctl snapshot save`; its sha256 trailer is checked when present) or the "
        "member/snap/db of a stopped etcd. Every key version etcd retained, the compaction point "
        "(a compaction etcd had not finished is finished), the revision and the leases come "
        "over; leases get their full TTL again when rametcd starts, as on an etcd restart. "
        "Takes the data dir's lock; writes everything or nothing.\n"
        "  --from FILE  the etcd snapshot or backend file to import\n"
        "Exit codes: 0 done; 2 bad arguments or DIR already holds data; 3 FILE is damaged, "
        "truncated or not an etcd file (DIR is left without data); 4 FILE or DIR cannot be "
        "read or written, DIR is in use, or FILE is held by a running etcd.\n",
        {"from"},
        {},
        {"DIR"}}},
  };
  return *commands;
}

int UsageError(std::string_view message, std::string_view usage) {
  std::cerr << "rametcd-recover: " << message << "\n\n" << usage;
  return kExitUsage;
}

bool Contains(const std::vector<std::string_view>& list, std::string_view name) {
  for (std::string_view s : list) {
    if (s == name) return true;
  }
  return false;
}

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return UsageError("no command given", kUsage);
  if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << kUsage;
    return kExitOk;
  }
  auto it = Commands().find(args[0]);
  if (it == Commands().end()) return UsageError("unknown command \"" + args[0] + "\"", kUsage);
  const std::string_view name = it->first;
  const Command& command = it->second;

  std::vector<std::string> positional;
  std::map<std::string, std::string> flags;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      positional.insert(positional.end(), args.begin() + i + 1, args.end());
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      positional.push_back(arg);
      continue;
    }
    std::string flag = arg.substr(arg[1] == '-' ? 2 : 1);
    std::optional<std::string> value;
    if (size_t eq = flag.find('='); eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag.resize(eq);
    }
    if (flag == "help" || flag == "h") {
      std::cout << command.help;
      return kExitOk;
    }
    if (Contains(command.bool_flags, flag)) {
      if (value && *value != "true" && *value != "false") {
        return UsageError("flag --" + flag + " takes no value", command.help);
      }
      flags[flag] = value.value_or("true");
    } else if (Contains(command.value_flags, flag)) {
      if (!value) {
        if (i + 1 >= args.size()) {
          return UsageError("flag --" + flag + " needs a value", command.help);
        }
        value = args[++i];
      }
      flags[flag] = *value;
    } else {
      return UsageError("unknown flag " + arg + " for " + std::string(name), command.help);
    }
  }
  if (positional.size() < command.operands.size()) {
    return UsageError("missing " + std::string(command.operands[positional.size()]), command.help);
  }
  if (positional.size() > command.operands.size()) {
    return UsageError("too many arguments", command.help);
  }
  const std::string& dir = positional[0];

  int code = kExitUsage;
  if (name == "verify") {
    code = Verify(dir, std::cout, std::cerr);
  } else if (name == "dump") {
    DumpOptions options;
    options.prefix = flags["prefix"];
    options.json = flags["json"] == "true";
    code = Dump(dir, options, std::cout, std::cerr);
  } else if (name == "repair") {
    code = Repair(dir, flags["backup-dir"], std::cout, std::cerr);
  } else if (name == "compact") {
    std::optional<int64_t> revision;
    if (auto f = flags.find("revision"); f != flags.end()) {
      int64_t r = 0;
      if (!absl::SimpleAtoi(f->second, &r) || r < 1) {
        return UsageError("flag --revision: \"" + f->second + "\" is not a positive revision",
                          command.help);
      }
      revision = r;
    }
    code = Compact(dir, revision, std::cout, std::cerr);
  } else if (name == "export-etcd-snapshot") {
    code = ExportEtcdSnapshot(dir, positional[1], flags["force"] == "true", std::cout, std::cerr);
  } else if (name == "import-etcd") {
    if (flags["from"].empty()) return UsageError("missing --from FILE", command.help);
    code = ImportEtcd(dir, flags["from"], std::cout, std::cerr);
  }
  std::cout.flush();
  return code;
}

}  // namespace
}  // namespace rametcd::recover

int main(int argc, char** argv) { return rametcd::recover::Main(argc, argv); }
