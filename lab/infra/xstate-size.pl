#!/usr/bin/perl
# Prints the size of this host's ptrace NT_X86_XSTATE regset (the kernel's fpu_user_cfg.max_size): a
# traced child's PTRACE_GETREGSET into a large buffer, whose length the kernel sets to what it copied.
# Perl is in every Debian system (perl-base is Essential); syscall 101 is ptrace on x86-64.
use strict; use warnings; use POSIX ();

my $pid = fork() // die "fork: $!";
if ($pid == 0) { syscall(101, 0, 0, 0, 0) == 0 or POSIX::_exit(2); kill 'STOP', $$; POSIX::_exit(0); }
waitpid($pid, 0);
my $buf = "\0" x 65536;
my $iov = pack("QQ", unpack("J", pack("p", $buf)), length $buf);
my $rc = syscall(101, 0x4204, $pid, 0x202, unpack("J", pack("p", $iov)));
my $err = $!;
kill 'KILL', $pid; waitpid($pid, 0);
$rc == 0 or die "PTRACE_GETREGSET: $err\n";
print ((unpack "QQ", $iov)[1], "\n");
