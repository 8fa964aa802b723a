/**
 * The in-namespace helper, in Perl: the few system calls Node does not offer (unshare, mount,
 * pivot_root, mknod, the *xattr calls, prctl) made by one small script, so that a whole RUN
 * setup costs one fork of an already-loaded interpreter instead of a dozen `mount(8)` execs.
 *
 * Why Perl: `perl-base` is Essential in Debian (always installed, like coreutils) and its
 * `syscall()` reaches any system call; python3 is not guaranteed and Node has no mount or
 * xattr API. Only the syscall numbers are per architecture (x86_64 and aarch64 below).
 *
 * Process shape, for every operation:
 *
 *   P (init namespaces) ──fork──▶ C: unshare(USER|…) ─ready─▶ P writes uid_map/gid_map
 *                                   (directly as real root, via newuidmap/newgidmap rootless)
 *                                 ◀──go── C continues as uid 0 of the new user namespace
 *   run/hosttools:  C ──fork──▶ G = PID 1 of the new PID namespace: mounts, pivot_root, ids,
 *                                   exec argv
 *   run with init (a container): G stays PID 1 and forks the command; with `tty`, on a pty
 *                   of the container's devpts, as session leader, G relaying pty ↔ its stdio
 *   enter (stratum exec): P setns() into a running container's namespaces, forks G' there
 *
 * Every child sets PR_SET_PDEATHSIG=SIGKILL: stratum killed by SIGKILL takes P (spawned with
 * PR_SET_PDEATHSIG and a parent check at its start), P takes C, C takes G, and the PID namespace dies with its init. The
 * mount namespace dies with its last process, so no mount outlives a run.
 *
 * The spec comes on fd 3 as records: tag NUL count NUL field NUL … (count fields). Output
 * records (snapshot) use the same form on stdout. Errors before exec: a line
 * `stratum-sandbox: …` on stderr and exit 125; exec failure: exit 127; `enter` into a missing
 * working directory: exit 126.
 *
 * The script comes in parts, and a spawn compiles only those its operation uses
 * (helperScript): perl compiles the whole text it is given before it runs a line, and the
 * extraction, snapshot, relay and enter code is more than half of it (a RUN's helper compiles
 * ~45% of the text; compile is most of a helper's own CPU before the command starts). A part
 * left out is never called on that path; calling one would end the helper with perl's
 * "Undefined subroutine" and exit 255, which the tests of each operation would show.
 */
const CORE = String.raw`
use strict; # no warnings.pm, POSIX.pm or constant.pm: loading them tripled start-up (7 → 2 ms)
my %NR = (
  x86_64  => { unshare=>272, mount=>165, umount2=>166, pivot_root=>155, prctl=>157, mknodat=>259,
               lsetxattr=>189, lgetxattr=>192, llistxattr=>195, fchownat=>260, mount_setattr=>442, exit_group=>231,
               setsid=>112, setns=>308, sethostname=>170, rt_sigprocmask=>14 },
  aarch64 => { unshare=>97, mount=>40, umount2=>39, pivot_root=>41, prctl=>167, mknodat=>33,
               lsetxattr=>6, lgetxattr=>9, llistxattr=>12, fchownat=>54, mount_setattr=>442, exit_group=>94,
               setsid=>157, setns=>268, sethostname=>161, rt_sigprocmask=>135 },
);
# The architecture comes from Node (process.arch) as $ARGV[0]: POSIX.pm alone costs 7 ms to load.
my $arch = $ARGV[0] // '';
our $S = $NR{$arch} or fail("unsupported architecture $arch");
sub _exit { my $c = 0 + shift; syscall($S->{exit_group}, $c) if $S; CORE::exit($c); }
# $stopped: the stop signal this process got (P's handler sets it). What fails after one is
# the stop itself (a killed newuidmap, a child gone before its id map): it ends as the signal
# would, 128 + n, not as a set-up error.
our $stopped;
my %SIGNUM = (HUP => 1, INT => 2, TERM => 15);
sub fail { _exit(128 + $SIGNUM{$stopped}) if $stopped; print STDERR "stratum-sandbox: $_[0]\n"; _exit(125); }
sub sc { my ($n, @a) = @_; return syscall($S->{$n}, @a); }
# Output buffers must be the caller's own variables: scb passes its arguments by alias.
sub scb { my $n = shift; return syscall($S->{$n}, @_); }
sub MS_RDONLY () { 1 } sub MS_NOSUID () { 2 } sub MS_NODEV () { 4 } sub MS_NOEXEC () { 8 }
sub MS_REMOUNT () { 32 } sub MS_BIND () { 4096 } sub MS_REC () { 16384 } sub MS_PRIVATE () { 1<<18 }
sub MNT_DETACH () { 2 } sub AT_FDCWD () { -100 } sub AT_SYMLINK_NOFOLLOW () { 0x100 }
sub AT_RECURSIVE () { 0x8000 } sub CLONE_NEWNS () { 0x20000 } sub CLONE_NEWUTS () { 0x04000000 }
sub CLONE_NEWIPC () { 0x08000000 } sub CLONE_NEWUSER () { 0x10000000 } sub CLONE_NEWPID () { 0x20000000 }
sub CLONE_NEWNET () { 0x40000000 }
# The tty ioctls are the same on x86_64 and aarch64 (asm-generic numbering).
sub TIOCSCTTY () { 0x540E } sub TIOCSWINSZ () { 0x5414 } sub TIOCGPTN () { 0x80045430 }
sub TIOCSPTLCK () { 0x40045431 } sub O_RDWR_NOCTTY () { 2|0400 }

# The signals a stop sends (HUP, INT, TERM), blocked and unblocked around a fork: one that
# lands between the fork and the child's own dispositions waits in the kernel instead of
# reaching a Perl handler that the child is about to drop.
sub STOP_SIGS { my $m = 0; $m |= 1 << ($_ - 1) for values %SIGNUM; return pack('Q', $m); }
sub stop_sigs { my $how = shift; sc('rt_sigprocmask', $how eq 'block' ? 0 : 1, STOP_SIGS(), 0, 8) == 0 or fail("sigprocmask: $!"); }

sub mnt {
  my ($src, $tgt, $type, $flags, $data) = @_;
  sc('mount', defined $src ? $src : 0, $tgt, defined $type ? $type : 0, 0+$flags, defined $data ? $data : 0) == 0
    or fail("mount " . ($type // 'bind') . " on $tgt: $!");
}
sub make_point {
  my ($tgt, $dir) = @_;
  return if -e $tgt;
  my $p = ''; my @seg = grep { length } split m{/}, $tgt; my $leaf = pop @seg;
  for (@seg) { $p .= "/$_"; mkdir $p; }
  if ($dir) { mkdir "$p/$leaf"; } else { if (open(my $fh, '>', "$p/$leaf")) { close $fh; } }
}
sub bind_mount {
  my ($src, $tgt, $ro) = @_;
  # A target missing here lies in a tmpfs this helper mounted (a host-tools workspace under
  # /tmp): make it. Overlay roots get theirs from the init layer, never from here.
  make_point($tgt, -d $src);
  mnt($src, $tgt, undef, MS_BIND|MS_REC);
  return unless $ro;
  # A bind remount must keep the flags the kernel locked on the source mount (nosuid, nodev,
  # noexec in a user namespace): try the plain set first, then with them.
  for my $extra (0, MS_NOSUID|MS_NODEV, MS_NOSUID|MS_NODEV|MS_NOEXEC) {
    return if sc('mount', 0, $tgt, 0, 0+(MS_REMOUNT|MS_BIND|MS_RDONLY|$extra), 0) == 0;
  }
  fail("remount $tgt read-only: $!");
}

# P dies with stratum: PR_SET_PDEATHSIG, then the parent check closes the race with a
# stratum that died before the prctl (its pid comes as $ARGV[1]).
sc('prctl', 1, 9, 0, 0, 0);
_exit(125) if defined $ARGV[1] && getppid() != $ARGV[1];

# --- the spec --------------------------------------------------------------------------
open(my $spec, '<&=', 3) or fail("no spec on fd 3: $!");
binmode $spec;
my $raw = do { local $/; <$spec> }; close $spec;
my @f = split /\0/, $raw, -1; pop @f if @f && $f[-1] eq '';
my (@recs, %one);
while (@f) { my $t = shift @f; my $n = shift @f; my @v = splice(@f, 0, $n); push @recs, [$t, @v]; $one{$t} = [@v]; }
my $op = $one{op}[0] or fail("spec has no op");

enter() if $op eq 'enter';

# --- P: fork C, map its ids, wait ----------------------------------------------------
pipe(my $rdy_r, my $rdy_w) or fail("pipe: $!");
pipe(my $go_r, my $go_w) or fail("pipe: $!");
my $c = fork(); defined $c or fail("fork: $!");
if ($c) {
  close $rdy_w; close $go_r;
  # A stop signal also reaches newuidmap (in this process group) and may end C before its
  # map is written: fail() then exits as the signal would. SIGPIPE is ignored here only (C
  # gone before its "go": the write fails, and C's status is what this process reports).
  for my $sig (qw(TERM INT HUP)) { $SIG{$sig} = sub { $stopped = $sig; kill $sig, $c; }; }
  $SIG{PIPE} = 'IGNORE';
  my $b; sysread($rdy_r, $b, 1) == 1 or do { waitpid($c, 0); exit_like($?) };
  for my $r (@recs) {
    my ($t, $how, @a) = @$r;
    next unless $t eq 'uidmap' || $t eq 'gidmap';
    if ($how eq 'write') {
      if ($t eq 'gidmap' && $one{setgroups}) { open(my $sg, '>', "/proc/$c/setgroups") or fail("setgroups: $!"); print $sg "deny"; close $sg; }
      my $file = $t eq 'uidmap' ? 'uid_map' : 'gid_map';
      open(my $m, '>', "/proc/$c/$file") or fail("open /proc/$c/$file: $!");
      syswrite($m, join("\n", @a) . "\n") or fail("write $t (" . join(', ', @a) . "): $!");
      close $m;
    } else {
      my $tool = $t eq 'uidmap' ? 'newuidmap' : 'newgidmap';
      system($tool, $c, @a) == 0 or do { kill 'KILL', $c; fail("$tool $c @a failed (see /etc/sub" . ($t eq 'uidmap' ? 'uid' : 'gid') . ")"); };
    }
  }
  syswrite($go_w, "g"); close $go_w;
  while (waitpid($c, 0) < 0) { last unless $! == 4; }
  exit_like($?);
}
sub exit_like {
  my $st = shift;
  if ($st & 127) { my $s = $st & 127; $SIG{$_} = 'DEFAULT' for qw(TERM INT HUP); kill $s, $$; _exit(128 + $s); }
  _exit($st >> 8);
}

# --- C: new namespaces -----------------------------------------------------------------
close $rdy_r; close $go_w;
sc('prctl', 1, 9, 0, 0, 0);
my $flags = CLONE_NEWUSER;
$flags |= CLONE_NEWNS|CLONE_NEWPID|CLONE_NEWIPC|CLONE_NEWUTS if $op eq 'run' || $op eq 'hosttools';
$flags |= CLONE_NEWNET if $one{netnone};
sc('unshare', 0+$flags) == 0 or fail("unshare: $! (are user namespaces enabled? see stratum's sandbox check)");
syswrite($rdy_w, "r"); close $rdy_w;
{ my $b; sysread($go_r, $b, 1) == 1 or _exit(125); close $go_r; }

if ($op eq 'remove') { exec('rm', '-rf', '--', @{$one{paths}}) or fail("exec rm: $!"); }
if ($op eq 'extract') { extract(); _exit(0); }
if ($op eq 'snapshot') { snapshot(); close STDOUT or fail("write: $!"); _exit(0); }

# Blocked across the fork: G is PID 1 of its namespace, and a signal that reached it before
# its handler would be dropped (the kernel gives PID 1 only what it handles). Unblocked in C
# once its forwarders stand, in G once it holds what comes (below).
# snapto (DIR UPPER FILE [open]): after a command that succeeded, C reads the upper itself
# and leaves its records in DIR/FILE, which saves the engine a second helper for the snapshot.
# C's working directory is DIR from here on: G's pivot_root moves only what points at the old
# root, and DIR stays reachable from C through it once the old root is detached.
if ($one{snapto}) { chdir $one{snapto}[0] or fail("chdir $one{snapto}[0]: $!"); }
stop_sigs('block');
my $g = fork(); defined $g or fail("fork: $!");
if ($g) {
  for my $sig (qw(TERM INT HUP)) { $SIG{$sig} = sub { kill $sig, $g; }; }
  stop_sigs('unblock');
  while (waitpid($g, 0) < 0) { last unless $! == 4; }
  my $st = $?;
  snap_after() if $one{snapto} && $st == 0;
  exit_like($st);
}

# --- G: PID 1 of the sandbox -----------------------------------------------------------
# PID 1 of a namespace never gets a signal it has no handler for: one that lands while the
# root is being set up is held here, and passed on once the command runs (run_argv, run_init),
# not dropped (a stratum run stopped during its start would wait out the grace for SIGKILL).
sc('prctl', 1, 9, 0, 0, 0);
my %pend;
$SIG{$_} = sub { $pend{$_[0]} = 1; } for qw(TERM INT HUP);
stop_sigs('unblock');
mnt(undef, '/', undef, MS_REC|MS_PRIVATE);
my $root = $one{mnt}[0];
if ($op eq 'run') {
  my ($layers, $lower, $upper, $work) = @{$one{overlay}};
  chdir $layers or fail("chdir $layers: $!");
  mnt('overlay', $root, 'overlay', 0, "lowerdir=$lower,upperdir=$upper,workdir=$work,userxattr");
  mnt('proc', "$root/proc", 'proc', MS_NOSUID|MS_NODEV|MS_NOEXEC);
  mnt('tmpfs', "$root/dev", 'tmpfs', MS_NOSUID|MS_NOEXEC, 'mode=755,size=65536k');
  for my $d (qw(null zero full random urandom tty)) {
    open(my $fh, '>', "$root/dev/$d") or fail("create /dev/$d: $!"); close $fh;
    mnt("/dev/$d", "$root/dev/$d", undef, MS_BIND);
  }
  mkdir "$root/dev/$_" for qw(pts shm mqueue);
  mnt('devpts', "$root/dev/pts", 'devpts', MS_NOSUID|MS_NOEXEC, 'newinstance,ptmxmode=0666,mode=0620');
  mnt('tmpfs', "$root/dev/shm", 'tmpfs', MS_NOSUID|MS_NODEV, 'mode=1777,size=65536k');
  symlink($_->[1], "$root/dev/$_->[0]") for ([ptmx=>'pts/ptmx'], [fd=>'/proc/self/fd'], [stdin=>'/proc/self/fd/0'], [stdout=>'/proc/self/fd/1'], [stderr=>'/proc/self/fd/2'], [core=>'/proc/kcore']);
  # /tmp is the image's own directory, as in Docker and BuildKit: a RUN's writes there are part
  # of its layer, and a file an earlier COPY put there is seen (a tmpfs here would hide it).
  if ($one{hostname}) { my $h = $one{hostname}[0]; sc('sethostname', $h, length $h) == 0 or fail("sethostname $h: $!"); }
} else {
  mnt('/', $root, undef, MS_BIND|MS_REC);
  my $attr = pack('QQQQ', 1, 0, 0, 0); # MOUNT_ATTR_RDONLY on the whole tree
  sc('mount_setattr', AT_FDCWD, $root, AT_RECURSIVE, $attr, 32) == 0 or fail("make the host root read-only (mount_setattr, Linux >= 5.12): $!");
  mnt('proc', "$root/proc", 'proc', MS_NOSUID|MS_NODEV|MS_NOEXEC);
  mnt('tmpfs', "$root/tmp", 'tmpfs', MS_NOSUID|MS_NODEV, 'mode=1777');
  mnt('tmpfs', "$root/dev/shm", 'tmpfs', MS_NOSUID|MS_NODEV, 'mode=1777') if -d "$root/dev/shm";
  if ($one{wsovl}) {
    # The workspace as an overlay over itself (lower = its tree, named relative to its parent,
    # upper = the RUN's changes): the snapshot reads only the upper, and the tree is changed
    # only by the engine, after the RUN. Mounted before the binds that lie inside it.
    my ($parent, $name, $upper, $work) = @{$one{wsovl}};
    my $tgt = "$root$parent/$name";
    make_point($tgt, 1);
    chdir $parent or fail("chdir $parent: $!");
    mnt('overlay', $tgt, 'overlay', 0, "lowerdir=$name,upperdir=$upper,workdir=$work,userxattr");
  }
}
for my $r (@recs) {
  my ($t, @a) = @$r;
  if ($t eq 'bind') { bind_mount($a[0], "$root$a[1]", $a[2] eq 'ro'); }
  elsif ($t eq 'tmpfs') { mnt('tmpfs', "$root$a[0]", 'tmpfs', MS_NOSUID|MS_NODEV, $a[1] ? "size=$a[1]" : 'mode=1777'); }
  elsif ($t eq 'cow') {
    # A writable bind whose writes are dropped: an overlay over the source, its upper on a
    # tmpfs that dies with this mount namespace.
    my ($lower, $tgt, $s) = ($a[0], "$root$a[1]", $a[2]);
    mnt('tmpfs', $s, 'tmpfs', MS_NOSUID|MS_NODEV, 'mode=755');
    mkdir "$s/u" or fail("mkdir $s/u: $!"); mkdir "$s/w" or fail("mkdir $s/w: $!");
    unless (-e $tgt) { my $p = ''; for (grep { length } split m{/}, $tgt) { $p .= "/$_"; mkdir $p; } }
    mnt('overlay', $tgt, 'overlay', 0, "lowerdir=$lower,upperdir=$s/u,workdir=$s/w");
  }
}
lo_up() if $one{netnone};
chdir $root or fail("chdir $root: $!");
sc('pivot_root', '.', '.') == 0 or fail("pivot_root: $!");
sc('umount2', '.', MNT_DETACH) == 0 or fail("detach the host root: $!");
chdir '/' or fail("chdir /: $!");
my $pty = $one{tty} ? open_pty(1) : undef;
run_argv($one{init} ? 'init' : 'exec', $pty);

# --- the command: working directory, ids, environment; with init (a container's PID 1, or
# an exec'd session) it runs as a child that this process waits for, forwarding signals,
# reaping orphans and, with a tty, relaying between the pty and its own stdio.
sub run_argv {
  my ($mode, $pty) = @_;
  my $cwd = $one{cwd}[0];
  # exec into a directory that is not there: Docker's 126 ("cannot start the command"), not 125.
  if ($mode eq 'enter') { chdir $cwd or do { print STDERR "stratum-sandbox: exec: working directory $cwd: $!\n"; _exit(126); }; }
  else {
    unless (-d $cwd) { my $p = ''; for (grep { length } split m{/}, $cwd) { $p .= "/$_"; mkdir $p; } }
    chdir $cwd or fail("chdir $cwd: $!");
  }
  if ($one{user}) {
    my ($uid, $gid, @groups) = @{$one{user}};
    chown($uid, $gid, $pty->{path}) if $pty;
    # The primary group is one of the supplementary groups too, as Docker sets them.
    $! = 0; $( = $gid; $) = join(' ', $gid, $gid, grep { $_ != $gid } @groups);
    fail("set groups $gid @groups: $!") if $!;
    ($<, $>) = ($uid, $uid);
    fail("setuid $uid: $!") if $< != $uid || $> != $uid;
    # A change of ids clears the parent-death signal: set it again.
    sc('prctl', 1, 9, 0, 0, 0);
  }
  %ENV = ();
  for my $r (@recs) { $ENV{$r->[1]} = $r->[2] if $r->[0] eq 'env'; }
  my @argv = @{$one{argv}};
  if ($mode eq 'exec' || ($mode eq 'enter' && !$pty)) {
    # A signal held during the set-up ends the command before it starts, as it would have.
    if ($mode eq 'exec') { for my $s (qw(TERM INT HUP)) { _exit(128 + $SIGNUM{$s}) if $pend{$s}; } $SIG{$_} = 'DEFAULT' for qw(TERM INT HUP); }
    exec { $argv[0] } @argv; print STDERR "stratum-sandbox: exec $argv[0]: $!\n"; _exit(127);
  }
  run_init($mode, $pty, @argv);
}
`;

/** A container's init (PID 1 that waits, reaps, relays a tty) and its pty. */
const INIT = String.raw`
# --- with init or a tty: the command as a child of this process (the relay below).
sub run_init {
  my ($mode, $pty, @argv) = @_;
  $0 = $mode eq 'init' ? "stratum-init" : "stratum-exec";
  # The self-pipe wakes the relay's select() on SIGCHLD (a signal that lands just before
  # select() is entered would otherwise be missed).
  pipe(my $sig_r, my $sig_w) or fail("pipe: $!");
  if ($pty) { fcntl($sig_w, 4, 04000); $SIG{CHLD} = sub { syswrite($sig_w, 'c'); }; } # F_SETFL O_NONBLOCK
  stop_sigs('block');
  my $kid = fork(); defined $kid or fail("fork: $!");
  if ($kid == 0) {
    $SIG{CHLD} = 'DEFAULT';
    $SIG{$_} = 'DEFAULT' for qw(TERM INT HUP);
    # What PID 1 held before the fork ends the command as it would have; what came since is
    # pending in the kernel and lands on unblock, with the default action.
    for my $s (qw(TERM INT HUP)) { kill $s, $$ if $pend{$s}; }
    stop_sigs('unblock');
    if ($pty) {
      # The session leader, with the pty as its controlling terminal: job control, tty, stty.
      sc('setsid') >= 0 or fail("setsid: $!");
      ioctl($pty->{s}, TIOCSCTTY, 0) or fail("TIOCSCTTY: $!");
      open(STDIN, '<&', $pty->{s}) or fail("dup pty: $!");
      open(STDOUT, '>&', $pty->{s}) or fail("dup pty: $!");
      open(STDERR, '>&', $pty->{s}) or fail("dup pty: $!");
    }
    sc('prctl', 1, 9, 0, 0, 0) if $mode eq 'enter';
    exec { $argv[0] } @argv; print STDERR "stratum-sandbox: exec $argv[0]: $!\n"; _exit(127);
  }
  for my $sig (qw(TERM INT HUP QUIT USR1 USR2 WINCH)) { $SIG{$sig} = sub { kill $sig, $kid; }; }
  # What arrived during the set-up; what came since the block lands on unblock, forwarded.
  for my $s (qw(TERM INT HUP)) { kill $s, $kid if delete $pend{$s}; }
  stop_sigs('unblock');
  my $st;
  my $reap = sub {
    while (1) {
      my $w = waitpid(-1, 1); # WNOHANG
      last if $w <= 0;
      next unless $w == $kid;
      $st = $?;
      # PID 1's command is done: the container ends (as its PID namespace would), so every
      # holder of the pty is gone and the last output can be drained to the end.
      kill 'KILL', -1 if $mode eq 'init';
    }
  };
  if ($pty) {
    close $pty->{s};
    my $m = $pty->{m};
    my $ctl;
    if ($one{ctl}) { open($ctl, '<&=', 4) or fail("no control fd 4: $!"); }
    my ($in_open, $buf) = (1, '');
    while (1) {
      my $rin = '';
      vec($rin, fileno($m), 1) = 1;
      vec($rin, 0, 1) = 1 if $in_open;
      vec($rin, fileno($ctl), 1) = 1 if $ctl;
      vec($rin, fileno($sig_r), 1) = 1;
      # After the command exited: drain until EIO (no pty holder left) or a quiet 200 ms
      # (an exec'd session's background jobs may keep the pty open).
      my $n = select(my $rout = $rin, undef, undef, defined $st ? 0.2 : undef);
      if ($n < 0) { next if $! == 4; fail("select: $!"); }
      last if $n == 0;
      if (vec($rout, fileno($sig_r), 1)) { sysread($sig_r, my $b, 512); $reap->(); }
      if (vec($rout, fileno($m), 1)) {
        my $r = sysread($m, my $b, 65536);
        last unless $r; # EIO: every holder of the slave closed it
        write_all(\*STDOUT, $b);
      }
      if ($in_open && vec($rout, 0, 1)) {
        my $r = sysread(STDIN, my $b, 65536);
        if ($r) { write_all($m, $b); } else { $in_open = 0; }
      }
      if ($ctl && vec($rout, fileno($ctl), 1)) {
        my $r = sysread($ctl, my $b, 4096);
        if (!$r) { close $ctl; undef $ctl; }
        else { $buf .= $b; while ($buf =~ s/^(\d+) (\d+)\n//) { winsize($m, $1, $2); } }
      }
    }
  }
  while (!defined $st) {
    my $w = waitpid(-1, 0);
    if ($w < 0) { last unless $! == 4; next; }
    if ($w == $kid) { $st = $?; kill 'KILL', -1 if $mode eq 'init'; }
  }
  exit_like($st // 0);
}

sub write_all {
  my ($fh, $b) = @_;
  my $o = 0;
  while ($o < length $b) { my $w = syswrite($fh, $b, length($b) - $o, $o); if (!defined $w) { next if $! == 4; return; } $o += $w; }
}
sub winsize { my ($m, $rows, $cols) = @_; my $ws = pack('S4', $rows, $cols, 0, 0); ioctl($m, TIOCSWINSZ, $ws); }

# A pty of the container's own devpts instance (/dev/pts/N inside, as Docker's); with
# $console, /dev/console is a bind of its slave.
sub open_pty {
  my $console = shift;
  sysopen(my $m, '/dev/pts/ptmx', O_RDWR_NOCTTY) or fail("open /dev/pts/ptmx: $!");
  my $z = pack('i', 0);
  ioctl($m, TIOCSPTLCK, $z) or fail("unlock the pty: $!");
  my $nb = pack('i', 0);
  ioctl($m, TIOCGPTN, $nb) or fail("TIOCGPTN: $!");
  my $path = '/dev/pts/' . unpack('i', $nb);
  sysopen(my $s, $path, O_RDWR_NOCTTY) or fail("open $path: $!");
  winsize($m, @{$one{tty}});
  if ($console) {
    if (open(my $fh, '>', '/dev/console')) { close $fh; }
    mnt($path, '/dev/console', undef, MS_BIND);
  }
  return { m => $m, s => $s, path => $path };
}

`;

const ENTER = String.raw`# --- enter: a command in a running container (stratum exec), as nsenter(1) does: the
# namespaces of its PID 1 (user first, for the capabilities in it; the PID namespace applies to
# children, so the command runs in a fork), then its root and the working directory.
sub enter {
  my $pid = $one{target}[0];
  my @names = ('user', 'ipc', 'uts', ($one{netnone} ? ('net') : ()), 'pid', 'mnt');
  my @fds;
  for my $n (@names) { open(my $fh, '<', "/proc/$pid/ns/$n") or fail("open /proc/$pid/ns/$n: $! (is the container still running?)"); push @fds, [$n, $fh]; }
  for my $e (@fds) { sc('setns', fileno($e->[1]), 0) == 0 or fail("setns $e->[0]: $!"); close $e->[1]; }
  # setns(user) keeps this process's host ids as seen inside: be uid/gid 0 until the command's own.
  $! = 0; $( = 0; $) = '0 0'; ($<, $>) = (0, 0);
  my $g = fork(); defined $g or fail("fork: $!");
  if ($g) {
    for my $sig (qw(TERM INT HUP)) { $SIG{$sig} = sub { kill $sig, $g; }; }
    while (waitpid($g, 0) < 0) { last unless $! == 4; }
    exit_like($?);
  }
  sc('prctl', 1, 9, 0, 0, 0);
  $SIG{$_} = 'DEFAULT' for qw(TERM INT HUP);
  chdir '/' or fail("chdir /: $!");
  my $pty = $one{tty} ? open_pty(0) : undef;
  run_argv('enter', $pty);
}

`;

const NET = String.raw`sub lo_up {
  socket(my $s, 2, 2, 0) or fail("socket: $!");
  my $req = pack('a16 s x22', 'lo', 0);
  ioctl($s, 0x8913, $req) or fail("SIOCGIFFLAGS lo: $!");
  my $fl = unpack('x16 s', $req) | 1;
  $req = pack('a16 s x22', 'lo', $fl);
  ioctl($s, 0x8914, $req) or fail("bring up lo: $!");
}

`;

const EXTRACT = String.raw`# --- extraction: create one layer's tree under $dir ------------------------------------
sub hexdec { my $h = shift; return pack('H*', $h); }
sub extract {
  my $dir = $one{dir}[0];
  my @done;
  my $last;
  for my $r (@recs) {
    my ($t, @a) = @$r;
    if ($t eq 'x') { push @{$last->{x}}, [@a] if $last; next; }
    next unless length($t) == 1;
    my $p = "$dir/$a[0]";
    parents($dir, $a[0]);
    if ($t eq 'd' || $t eq 'o') { mkdir $p, 0700 or -d $p or fail("mkdir $p: $!"); }
    elsif ($t eq 'f') { copy_file($a[4], $p); }
    elsif ($t eq 'F') { link($a[5], $p) or copy_file($a[4], $p); }
    elsif ($t eq 'l') { symlink($a[4], $p) or fail("symlink $p: $!"); }
    elsif ($t eq 'h') { link("$dir/$a[1]", $p) or fail("link $p: $!"); }
    elsif ($t eq 'w') { sc('mknodat', AT_FDCWD, $p, 0+0020000, 0) == 0 or fail("whiteout $p: $!"); }
    elsif ($t eq 'p') { sc('mknodat', AT_FDCWD, $p, 0+0010000, 0) == 0 or fail("fifo $p: $!"); }
    elsif ($t eq 'c' || $t eq 'b') {
      my ($ma, $mi) = ($a[4], $a[5]);
      my $dev = ($mi & 0xff) | (($ma & 0xfff) << 8) | (($mi & ~0xff) << 12);
      # A user namespace may not make device nodes (as containers-storage, skip them: the
      # sandbox mounts its own /dev, and the layer in the store keeps the entry for export).
      if (sc('mknodat', AT_FDCWD, $p, 0+(($t eq 'c' ? 0020000 : 0060000) | 0600), 0+$dev) != 0) { next; }
    }
    $last = { t => $t, p => $p, a => [@a], x => [] };
    $last->{x} = [['user.overlay.opaque', unpack('H*', 'y')]] if $t eq 'o';
    push @done, $last;
  }
  # Owners, then modes (chown clears setuid bits), then xattrs (chown clears capabilities),
  # children before parents.
  for my $e (reverse @done) {
    next if $e->{t} eq 'w' || $e->{t} eq 'h';
    my ($path, $mode, $uid, $gid) = @{$e->{a}};
    sc('fchownat', AT_FDCWD, $e->{p}, 0+$uid, 0+$gid, AT_SYMLINK_NOFOLLOW) == 0 or fail("chown $uid:$gid $e->{p}: $! (the id is outside this user namespace's mapping)");
    if ($e->{t} ne 'l') { chmod(oct($mode), $e->{p}) or fail("chmod $e->{p}: $!"); }
    for my $x (@{$e->{x}}) {
      my $v = hexdec($x->[1]);
      sc('lsetxattr', $e->{p}, $x->[0], $v, length($v), 0) == 0 or fail("setxattr $x->[0] on $e->{p}: $!");
    }
  }
}
sub parents {
  my ($dir, $rel) = @_;
  my @seg = split m{/}, $rel; pop @seg;
  my $p = $dir;
  for (@seg) { $p .= "/$_"; next if -d $p; mkdir $p, 0755 or fail("mkdir $p: $!"); }
}
sub copy_file {
  my ($src, $dst) = @_;
  open(my $in, '<:raw', $src) or fail("open blob $src: $!");
  open(my $out, '>:raw', $dst) or fail("create $dst: $!");
  my $buf;
  while (1) { my $n = sysread($in, $buf, 1 << 16); defined $n or fail("read $src: $!"); last unless $n; my $o = 0; while ($o < $n) { my $w = syswrite($out, $buf, $n - $o, $o); defined $w or fail("write $dst: $!"); $o += $w; } }
  close $out or fail("close $dst: $!"); close $in;
}

`;

const SNAPSHOT = String.raw`# --- snapshot: walk an upperdir, print its records, make it readable outside ------------
sub out { my @v = @_; print join("\0", $v[0], scalar(@v) - 1, @v[1..$#v]) . "\0"; }
sub xattrs {
  my $p = shift;
  my $buf = "\0" x 65536;
  my $n = scb('llistxattr', $p, $buf, 65536);
  return () if $n <= 0;
  my @res;
  for my $name (split /\0/, substr($buf, 0, $n)) {
    next if $name =~ /^(trusted|user)\.overlay\./ && $name ne 'user.overlay.opaque';
    next unless $name =~ /^(user\.|security\.capability$)/;
    my $v = "\0" x 65536;
    my $m = scb('lgetxattr', $p, $name, $v, 65536);
    next if $m < 0;
    push @res, [$name, unpack('H*', substr($v, 0, $m))];
  }
  return @res;
}
sub snapshot { binmode STDOUT; walk_upper($one{dir}[0], $one{open} ? 1 : 0, \&fail); }
# The records go to a temporary name, renamed when complete: a helper killed halfway leaves no
# file, and an error leaves none either (the engine then reads the upper with a helper of its
# own, which reports it).
sub snap_after {
  my (undef, $top, $file, $open) = @{$one{snapto}};
  my $tmp = "$file.tmp";
  my $ok = eval {
    open(my $fh, '>', $tmp) or die "open $tmp: $!";
    binmode $fh;
    my $was = select($fh);
    walk_upper($top, $open ? 1 : 0, sub { die "$_[0]\n"; });
    select($was);
    close $fh or die "write $tmp: $!";
    rename($tmp, $file) or die "rename $tmp: $!";
    1;
  };
  unlink $tmp unless $ok;
}
sub walk_upper {
  my ($top, $open, $fail) = @_;
  my @stack = ('');
  while (@stack) {
    my $rel = pop @stack;
    my $abs = $rel eq '' ? $top : "$top/$rel";
    opendir(my $dh, $abs) or $fail->("read $abs: $!");
    my @names = sort grep { $_ ne '.' && $_ ne '..' } readdir $dh;
    closedir $dh;
    for my $name (@names) {
      my $r = $rel eq '' ? $name : "$rel/$name";
      my $p = "$top/$r";
      my @st = lstat($p) or $fail->("lstat $p: $!");
      my ($dev, $ino, $mode, $nlink, $uid, $gid, $rdev, $size) = @st;
      my $fmt = $mode & 0170000;
      my $t = $fmt == 0100000 ? 'f' : $fmt == 0040000 ? 'd' : $fmt == 0120000 ? 'l' : $fmt == 0020000 ? 'c' : $fmt == 0060000 ? 'b' : $fmt == 0010000 ? 'p' : 's';
      my $ma = (($rdev >> 8) & 0xfff) | (($rdev >> 32) & ~0xfff);
      my $mi = ($rdev & 0xff) | (($rdev >> 12) & ~0xff);
      my $target = $t eq 'l' ? readlink($p) : '';
      out('e', $r, $t, sprintf('%o', $mode & 07777), $uid, $gid, $size, "$dev:$ino", $nlink, $ma, $mi, $target);
      out('x', @$_) for ($t eq 'f' || $t eq 'd') ? xattrs($p) : ();
      if ($open && $t eq 'f') { chmod(($mode & 07777) | 0444, $p); }
      if ($t eq 'd') { chmod(($mode & 07777) | 0555, $p) if $open; push @stack, $r; }
    }
  }
}
`;

/** The whole helper, every operation. */
export const NS_HELPER_PL = CORE + INIT + ENTER + NET + EXTRACT + SNAPSHOT;

/** What a spawn needs: its operation, and whether it runs an init or a tty. */
export interface HelperNeeds {
  op?: string;
  init?: boolean;
}

const scripts = new Map<string, string>();

/** The helper's text for one kind of operation (undefined op: any `run`/`hosttools` without
 *  init or tty, what a RUN's helper started ahead of its spec may get). */
export function helperScript(n: HelperNeeds): string {
  const op = n.op ?? 'run';
  const init = n.init === true || op === 'enter';
  const id = `${op}:${init}`;
  let text = scripts.get(id);
  if (text === undefined) {
    text = CORE + (init ? INIT : '') + (op === 'enter' ? ENTER : '') + (op === 'run' || op === 'hosttools' ? NET : '') + (op === 'extract' ? EXTRACT : '') + (op === 'snapshot' || op === 'run' || op === 'hosttools' ? SNAPSHOT : '');
    scripts.set(id, text);
  }
  return text;
}
