package Portico::Test;

# Portico::Test: the harness for portico's integration tests (t/*.t).
#
# Core Perl only. A test makes a Portico::Test object, which owns a
# temporary directory (kept when PORTICO_TEST_LEAVE=1) with a logs/
# subdirectory, writes portico.conf into it with %%PORT_<label>%% and
# %%TESTDIR%% placeholders, starts fake backends (forked Perl servers),
# starts $ENV{PORTICO_BINARY} and talks to it with raw HTTP clients.
#
#	my $t = Portico::Test->new;
#	$t->write_conf(<<'EOF');
#	daemon off;
#	...  listen 127.0.0.1:%%PORT_A%%; ... proxy_pass http://127.0.0.1:%%PORT_B%%;
#	EOF
#	$t->http_backend('B', handler => sub { my ($req) = @_; (200, [], "hi") });
#	$t->run;
#	like(http_get($t->port('A'), '/'), qr/^HTTP\/1\.1 200 /, 'proxied');
#
# Every process the harness starts is tracked by pid (backends by their
# own process group) and stopped by pid at the end; every wait is bounded.
# Environment: PORTICO_BINARY (the binary under test), PORTICO_TEST_LEAVE=1
# (keep the directory), PORTICO_TEST_CATLOG=1 (print the error log at
# the end), PORTICO_TEST_VERBOSE=1 (diag what the harness does).

use strict;
use warnings;

use Carp qw(croak);
use Exporter qw(import);
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use IO::Socket::IP;
use POSIX qw(WNOHANG _exit);
use Socket qw(SOL_SOCKET SO_REUSEADDR);
use Time::HiRes qw(sleep);
use Test::More ();

our @EXPORT = qw(http_get http http_keepalive parse_response parse_responses
    wait_until now);

$SIG{PIPE} = 'IGNORE';

my $OWNER = $$;			# the test process; children never clean up
my @INSTANCES;			# for the END block
my %USED_PORTS;			# ports handed out by this process

sub now { return Time::HiRes::time() }

# Poll <cb> every <step> seconds until it returns true or <timeout>
# seconds pass. Returns the callback's last value.
sub wait_until {
	my ($cb, $timeout, $step) = @_;
	$timeout //= 10;
	$step //= 0.05;
	my $end = now() + $timeout;
	while (1) {
		my $v = $cb->();
		return $v if $v;
		return $v if now() >= $end;
		sleep $step;
	}
}

sub _verbose { Test::More::diag(@_) if $ENV{PORTICO_TEST_VERBOSE} }

###########################################################################
# construction, files, ports

sub new {
	my ($class, %o) = @_;
	my $leave = $ENV{PORTICO_TEST_LEAVE} ? 1 : 0;
	my $dir = tempdir('portico-test-XXXXXXXX', TMPDIR => 1,
	    CLEANUP => !$leave);
	chmod 0755, $dir;		# unprivileged workers must reach files
	mkdir "$dir/logs" or croak "mkdir $dir/logs: $!";
	chmod 0777, "$dir/logs";
	my $bin = $ENV{PORTICO_BINARY};
	if (!defined $bin || $bin eq '') {
		for my $cand ('./portico', '../portico') {
			if (-x $cand) { $bin = $cand; last; }
		}
	}
	$bin //= 'portico';
	$bin = Cwd::abs_path($bin) if $bin =~ m{/} && -e $bin;
	my $self = bless {
		dir		=> $dir,
		bin		=> $bin,
		ports		=> {},
		listen		=> [],
		backends	=> [],
		pid		=> undef,
		owner		=> $$,
	}, $class;
	Test::More::diag("test dir $dir") if $leave;
	push @INSTANCES, $self;
	return $self;
}

require Cwd;

sub testdir { $_[0]{dir} }
sub binary { $_[0]{bin} }

# true when the binary under test is nginx (used to validate the tests)
sub is_nginx {
	my ($self) = @_;
	return $self->{bin} =~ m{(?:^|/)nginx[^/]*$} ? 1 : 0;
}

sub plan {
	my ($self, $n) = @_;
	Test::More::plan(tests => $n);
	return $self;
}

sub skip_all {
	my ($self, $why) = @_;
	Test::More::plan(skip_all => $why);
}

# IPv6 loopback usable?
sub has_ipv6 {
	my $s = IO::Socket::IP->new(LocalHost => '::1', LocalPort => 0,
	    Listen => 1, Proto => 'tcp');
	return $s ? 1 : 0;
}

sub _port_free {
	my ($port) = @_;
	my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
	    LocalPort => $port, Proto => 'tcp', Listen => 1, ReuseAddr => 1)
	    or return 0;
	close $s;
	if (has_ipv6()) {
		my $s6 = IO::Socket::IP->new(LocalHost => '::1',
		    LocalPort => $port, Proto => 'tcp', Listen => 1,
		    ReuseAddr => 1) or return 0;
		close $s6;
	}
	return 1;
}

# A free loopback port below the usual ephemeral range, distinct from
# every port handed out before by this process.
sub _free_port {
	for (1 .. 500) {
		my $p = 15000 + int(rand(17000));
		next if $USED_PORTS{$p};
		next unless _port_free($p);
		$USED_PORTS{$p} = 1;
		return $p;
	}
	croak "no free port found";
}

# the port for <label> (allocated on first use)
sub port {
	my ($self, $label) = @_;
	croak "port label needed" unless defined $label;
	$self->{ports}{$label} //= _free_port();
	return $self->{ports}{$label};
}

# extra directives nginx needs to stay inside the test dir (its Debian
# build has absolute compiled-in temp paths); empty for portico
sub nginx_only {
	my ($self) = @_;
	return '' unless $self->is_nginx;
	my $d = $self->{dir};
	mkdir "$d/tmp";
	return join ' ', map { "${_}_temp_path $d/tmp/$_;" }
	    qw(client_body proxy fastcgi uwsgi scgi);
}

# Replace %%PORT_<label>%%, %%TESTDIR%% and %%NGINX_ONLY%% in <text>.
sub subst {
	my ($self, $text) = @_;
	$text =~ s/%%PORT_(\w+?)%%/$self->port($1)/ge;
	$text =~ s/%%TESTDIR%%/$self->{dir}/g;
	$text =~ s/%%NGINX_ONLY%%/$self->nginx_only/ge;
	return $text;
}

sub write_file {
	my ($self, $name, $text) = @_;
	my $path = $name =~ m{^/} ? $name : "$self->{dir}/$name";
	(my $d = $path) =~ s{/[^/]*$}{};
	_mkpath($d);
	open my $fh, '>', $path or croak "open $path: $!";
	binmode $fh;
	print $fh $self->subst($text);
	close $fh or croak "close $path: $!";
	return $path;
}

sub _mkpath {
	my ($d) = @_;
	return if -d $d;
	(my $parent = $d) =~ s{/[^/]*$}{};
	_mkpath($parent) if $parent ne '' && $parent ne $d;
	mkdir $d;
}

# Write the configuration (default name portico.conf) and remember which
# ports appear on "listen" lines: run() waits for those.
sub write_conf {
	my ($self, $text, $name) = @_;
	$name //= 'portico.conf';
	my @listen;
	for my $line (split /\n/, $text) {
		next unless $line =~ /(?:^|[\s{;])listen\b/;
		my $host = $line =~ /\[::/ ? '::1' : '127.0.0.1';
		while ($line =~ /%%PORT_(\w+?)%%/g) {
			push @listen, [$host, $self->port($1)];
		}
	}
	$self->{listen} = \@listen;
	$self->{conf_name} = $name;
	return $self->write_file($name, $text);
}

sub read_file {
	my ($self, $name) = @_;
	my $path = $name =~ m{^/} ? $name : "$self->{dir}/$name";
	open my $fh, '<', $path or return '';
	binmode $fh;
	local $/;
	my $s = <$fh>;
	close $fh;
	return $s // '';
}

# Wait until <file> matches <re> (bounded); returns the match or ''.
sub wait_for_log {
	my ($self, $file, $re, $timeout) = @_;
	my $found = '';
	wait_until(sub {
		my $s = $self->read_file($file);
		if ($s =~ /($re)/) { $found = $1; return 1; }
		return 0;
	}, $timeout // 5);
	return $found;
}

sub _log_tail {
	my ($self, $n) = @_;
	$n //= 30;
	my $out = '';
	for my $f ('logs/stderr.log', 'logs/error.log') {
		my @l = split /\n/, $self->read_file($f);
		splice @l, 0, @l - $n if @l > $n;
		$out .= "--- $f:\n" . join("\n", @l) . "\n" if @l;
	}
	return $out;
}

###########################################################################
# the binary under test

# Start the binary: -p TESTDIR/ -c portico.conf [args]; wait (10 s max)
# until the listen ports accept. Options: conf => name, args => [...],
# wait_ports => [port | [host, port], ...], timeout => seconds.
sub run {
	my ($self, %o) = @_;
	croak "already running" if $self->{pid};
	my $conf = $o{conf} // $self->{conf_name} // 'portico.conf';
	my @args = ('-p', "$self->{dir}/", '-c', $conf, @{$o{args} || []});
	my $pid = $self->_spawn($self->{bin}, @args);
	$self->{pid} = $pid;
	_verbose("started $self->{bin} @args: pid $pid");
	my @wait = map { ref $_ ? $_ : ['127.0.0.1', $_] }
	    @{$o{wait_ports} // $self->{listen}};
	my $end = now() + ($o{timeout} // 10);
	while (1) {
		my $r = waitpid($pid, WNOHANG);
		if ($r == $pid) {
			my $st = $?;
			$self->{pid} = undef;
			die "$self->{bin} exited (status $st) before listening\n"
			    . $self->_log_tail;
		}
		my $ready = 1;
		for my $hp (@wait) {
			my $s = IO::Socket::IP->new(PeerHost => $hp->[0],
			    PeerPort => $hp->[1], Proto => 'tcp', Timeout => 1);
			if (!$s) { $ready = 0; last; }
			close $s;
		}
		last if $ready;
		if (now() > $end) {
			die "$self->{bin} not listening after timeout\n"
			    . $self->_log_tail;
		}
		sleep 0.05;
	}
	return $self;
}

sub _spawn {
	my ($self, $bin, @args) = @_;
	my $pid = fork;
	croak "fork: $!" unless defined $pid;
	if ($pid == 0) {
		open STDIN, '<', '/dev/null';
		open STDOUT, '>>', "$self->{dir}/logs/stderr.log";
		open STDERR, '>&', \*STDOUT;
		chdir $self->{dir};
		{ no warnings "exec"; exec { $bin } $bin, @args; }
		print STDERR "exec $bin: $!\n";
		_exit(127);
	}
	return $pid;
}

sub pid { $_[0]{pid} }

sub signal {
	my ($self, $sig, $pid) = @_;
	$pid //= $self->{pid};
	croak "not running" unless $pid;
	return kill $sig, $pid;
}

# Has the master exited? (reaps it)
sub exited {
	my ($self) = @_;
	return 1 unless $self->{pid};
	my $r = waitpid($self->{pid}, WNOHANG);
	if ($r == $self->{pid}) {
		$self->{exit_status} = $?;
		$self->{pid} = undef;
		return 1;
	}
	return 0;
}

# Wait (bounded) for the master to exit; returns true if it did.
sub wait_exit {
	my ($self, $timeout) = @_;
	return wait_until(sub { $self->exited }, $timeout // 10);
}

sub exit_status { $_[0]{exit_status} }

# Stop the master: QUIT, up to 10 s, then TERM, 5 s, then KILL.
sub stop {
	my ($self) = @_;
	return $self unless $$ == $self->{owner};
	if ($self->{pid}) {
		my $pid = $self->{pid};
		kill 'QUIT', $pid;
		if (!$self->wait_exit(10)) {
			Test::More::diag("pid $pid ignored QUIT, sending TERM");
			kill 'TERM', $pid;
			if (!$self->wait_exit(5)) {
				kill 'KILL', $pid;
				$self->wait_exit(5);
			}
		}
	}
	return $self;
}

# Remember a process this test started indirectly (a daemonized master
# read from its pid file): cleanup() stops it by pid.
sub adopt_pid {
	my ($self, $pid) = @_;
	push @{$self->{adopted}}, $pid if $pid && $pid =~ /^\d+$/ && $pid > 1;
}

sub _stop_adopted {
	my ($self) = @_;
	for my $pid (@{$self->{adopted} || []}) {
		next unless kill 0, $pid;
		for my $sig ('QUIT', 'TERM', 'KILL') {
			kill $sig, $pid;
			last if wait_until(sub { !kill 0, $pid }, 5);
		}
	}
	$self->{adopted} = [];
}

# A sanitizer report (ASan, UBSan, LSan) on the binary's stderr, or a
# worker that died of SIGSEGV, SIGBUS, SIGFPE or SIGABRT, fails the test
# file even when every request got its answer (a crashed worker is
# respawned and the next request may succeed). Tests that kill workers
# on purpose use SIGKILL, which is not counted.
sub _check_crashes {
	my ($self) = @_;
	return if $self->{crash_checked}++;
	opendir my $dh, "$self->{dir}" or return;
	my @files = map { "$self->{dir}/$_" } grep { /^cmd\d+\.err$/ } readdir $dh;
	closedir $dh;
	push @files, "$self->{dir}/logs/stderr.log";
	my @bad;
	for my $f (@files) {
		my $s = $self->read_file($f);
		while ($s =~ /^(.*(?:ERROR: (?:Address|Leak|Memory|Thread)Sanitizer|runtime error:).*)$/mg) {
			push @bad, "$f: $1";
		}
	}
	my $el = $self->read_file('logs/error.log');
	while ($el =~ /^(.*exited on signal (?:4|6|7|8|11)\b.*)$/mg) {
		push @bad, "error.log: $1";
	}
	return unless @bad;
	splice @bad, 10 if @bad > 10;
	Test::More::ok(0, 'no crash or sanitizer report') or
	    Test::More::diag(join "\n", @bad);
}

# Stop everything this object started (master, then backends).
sub cleanup {
	my ($self) = @_;
	return unless $$ == $self->{owner};
	$self->_stop_adopted;
	$self->stop;
	$self->stop_backends;
	$self->_check_crashes;
	if ($ENV{PORTICO_TEST_CATLOG} && !$self->{catted}++) {
		Test::More::diag("--- error.log:\n"
		    . $self->read_file('logs/error.log')
		    . "--- stderr.log:\n" . $self->read_file('logs/stderr.log'));
	}
}

END {
	if ($$ == $OWNER) {
		my $rc = $?;
		$_->cleanup for @INSTANCES;
		$? = $rc;
	}
}

# pids of the live (non-zombie) children of <ppid> (default: the master)
sub children_of {
	my ($ppid) = @_;
	my @kids;
	opendir my $dh, '/proc' or return ();
	for my $p (grep { /^\d+$/ } readdir $dh) {
		open my $fh, '<', "/proc/$p/stat" or next;
		my $st = <$fh>;
		close $fh;
		next unless defined $st && $st =~ /\)\s+(\S)\s+(\d+)/s;
		# comm may hold ")": use the last one
		my $rest = substr($st, rindex($st, ')') + 1);
		my ($state, $pp) = $rest =~ /^\s*(\S)\s+(\d+)/ or next;
		push @kids, $p + 0 if $pp == $ppid && $state ne 'Z';
	}
	closedir $dh;
	return sort { $a <=> $b } @kids;
}

sub worker_pids {
	my ($self, $ppid) = @_;
	$ppid //= $self->{pid};
	return () unless $ppid;
	return children_of($ppid);
}

# VmRSS of <pid> in kB (undef if unknown)
sub rss_kb {
	my ($pid) = @_;
	open my $fh, '<', "/proc/$pid/status" or return undef;
	while (<$fh>) {
		return $1 if /^VmRSS:\s+(\d+)\s+kB/;
	}
	return undef;
}

# Run the binary (or <bin> via opts) with <args>, bounded by a timeout;
# returns (exit code, stdout, stderr). Exit code is -1 on timeout, or
# 128+N when killed by signal N.
sub run_cmd {
	my ($self, @args) = @_;
	my %o = ref $args[-1] eq 'HASH' ? %{pop @args} : ();
	my $bin = $o{bin} // $self->{bin};
	my $n = ++$self->{cmd_seq};
	my ($out, $err) = ("$self->{dir}/cmd$n.out", "$self->{dir}/cmd$n.err");
	my $pid = fork;
	croak "fork: $!" unless defined $pid;
	if ($pid == 0) {
		open STDIN, '<', '/dev/null';
		open STDOUT, '>', $out;
		open STDERR, '>', $err;
		chdir $self->{dir};
		{ no warnings "exec"; exec { $bin } $bin, @args; }
		print STDERR "exec $bin: $!\n";
		_exit(127);
	}
	my $code;
	my $ok = wait_until(sub {
		my $r = waitpid($pid, WNOHANG);
		if ($r == $pid) {
			$code = ($? & 127) ? 128 + ($? & 127) : $? >> 8;
			return 1;
		}
		return 0;
	}, $o{timeout} // 10);
	if (!$ok) {
		kill 'KILL', $pid;
		waitpid($pid, 0);
		$code = -1;
	}
	return ($code, $self->read_file($out), $self->read_file($err));
}

# Run with the test config and <args> (default: none) expecting failure:
# returns (exit code, stdout+stderr). Defaults to -p TESTDIR/ -c conf.
sub run_fails {
	my ($self, @args) = @_;
	my $conf = $self->{conf_name} // 'portico.conf';
	my ($code, $out, $err) = $self->run_cmd('-p', "$self->{dir}/",
	    '-c', $conf, @args, {timeout => 10});
	return ($code, $err . $out);
}

###########################################################################
# backends

# A forked server on 127.0.0.1:port(<label>): the listener is made here,
# the accept loop runs in its own process group, one forked child per
# connection running <conn>->($sock, $conn_number). Accepted connections
# are counted in TESTDIR/backend-<label>.conns (one line each).
sub _server {
	my ($self, $label, $conn, %o) = @_;
	my $port = $self->port($label);
	my $ls = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
	    LocalPort => $port, Proto => 'tcp', Listen => $o{backlog} // 128,
	    ReuseAddr => 1) or croak "backend $label listen $port: $!";
	my $counter = "$self->{dir}/backend-$label.conns";
	open my $cf, '>', $counter;
	close $cf;
	my $pid = fork;
	croak "fork: $!" unless defined $pid;
	if ($pid == 0) {
		setpgrp(0, 0);
		$SIG{CHLD} = 'IGNORE';
		$SIG{TERM} = sub { _exit(0) };
		my $n = 0;
		my $deadline = now() + ($o{lifetime} // 600);
		while (now() < $deadline) {
			my $c = $ls->accept or next;
			$n++;
			if (open my $fh, '>>', $counter) {
				print $fh "$n\n";
				close $fh;
			}
			my $k = fork;
			if (defined $k && $k == 0) {
				close $ls;
				$SIG{TERM} = 'DEFAULT';
				$c->autoflush(1);
				binmode $c;
				eval { $conn->($c, $n) };
				close $c;
				_exit(0);
			}
			close $c;
		}
		_exit(0);
	}
	close $ls;
	push @{$self->{backends}}, $pid;
	_verbose("backend $label on $port: pid $pid");
	return $pid;
}

sub stop_backends {
	my ($self) = @_;
	return unless $$ == $self->{owner};
	for my $pid (@{$self->{backends}}) {
		kill 'TERM', -$pid;	# its process group: our own children
		kill 'TERM', $pid;
	}
	for my $pid (@{$self->{backends}}) {
		wait_until(sub { waitpid($pid, WNOHANG) != 0 }, 5)
		    or do { kill 'KILL', -$pid; waitpid($pid, 0) };
	}
	$self->{backends} = [];
}

# number of connections a backend accepted so far
sub backend_conns {
	my ($self, $label) = @_;
	my $s = $self->read_file("backend-$label.conns");
	my @l = split /\n/, $s;
	return scalar @l;
}

# Read with a timeout into <$$buf>: returns bytes read, 0 on EOF, undef
# on timeout or error.
sub _read_some {
	my ($sock, $buf, $timeout) = @_;
	my $sel = IO::Select->new($sock);
	return undef unless $sel->can_read($timeout);
	my $n = sysread($sock, $$buf, 65536, length $$buf);
	return $n;
}

sub _write_all {
	my ($sock, $data) = @_;
	my $off = 0;
	while ($off < length $data) {
		my $n = syswrite($sock, $data, length($data) - $off, $off);
		if (!defined $n) {
			next if $!{EINTR} || $!{EAGAIN};
			return 0;
		}
		$off += $n;
	}
	return 1;
}

# Read one request from <sock> (buffer <$$buf>). Returns a hash:
# method uri version head (raw) headers ([name, value] pairs)
# h (lower-case name => values joined by ", ") body chunked chunks
# trailers; undef on EOF or timeout before a full request.
sub _read_request {
	my ($sock, $buf, $timeout, %o) = @_;
	my $end = now() + $timeout;
	while (index($$buf, "\r\n\r\n") < 0) {
		return undef if now() > $end || length $$buf > 1 << 20;
		my $n = _read_some($sock, $buf, $end - now());
		return undef unless $n;
	}
	my $i = index($$buf, "\r\n\r\n");
	my $head = substr($$buf, 0, $i + 4, '');
	my ($line, @lines) = split /\r\n/, $head;
	my ($method, $uri, $version) = split / /, $line, 3;
	my (@headers, %h);
	for (@lines) {
		my ($n, $v) = /^([^:]*):[ \t]*(.*?)[ \t]*$/ or next;
		push @headers, [$n, $v];
		my $k = lc $n;
		$h{$k} = exists $h{$k} ? "$h{$k}, $v" : $v;
	}
	my $req = { method => $method, uri => $uri, version => $version // '',
	    head => $head, headers => \@headers, h => \%h, body => '' };
	if (($h{expect} // '') =~ /100-continue/i && $o{continue}) {
		_write_all($sock, "HTTP/1.1 100 Continue\r\n\r\n");
	}
	if (($h{'transfer-encoding'} // '') =~ /chunked\s*$/i) {
		$req->{chunked} = 1;
		my @chunks;
		while (1) {
			while ($$buf !~ /\r\n/) {
				return undef if now() > $end;
				my $n = _read_some($sock, $buf, $end - now());
				return undef unless $n;
			}
			$$buf =~ s/^([^\r\n]*)\r\n// or return undef;
			my ($hex) = $1 =~ /^([0-9a-fA-F]+)/ or return undef;
			my $size = hex $hex;
			if ($size == 0) {
				# trailers until an empty line
				while ($$buf !~ /^\r\n/ && $$buf !~ /\r\n\r\n/) {
					return undef if now() > $end;
					my $n = _read_some($sock, $buf,
					    $end - now());
					return undef unless $n;
				}
				if ($$buf =~ s/^\r\n//) {
					$req->{trailers} = '';
				} else {
					$$buf =~ s/^(.*?\r\n)\r\n//s;
					$req->{trailers} = $1;
				}
				last;
			}
			while (length $$buf < $size + 2) {
				return undef if now() > $end;
				my $n = _read_some($sock, $buf, $end - now());
				return undef unless $n;
			}
			my $data = substr($$buf, 0, $size, '');
			substr($$buf, 0, 2, '');
			push @chunks, $size;
			$req->{body} .= $data;
		}
		$req->{chunks} = \@chunks;
	} elsif (defined $h{'content-length'}) {
		my $cl = $h{'content-length'};
		$cl = 0 unless $cl =~ /^\d+$/;
		my $bend = now() + ($o{body_timeout} // $timeout);
		while (length $$buf < $cl) {
			return undef if now() > $bend;
			my $n = _read_some($sock, $buf, $bend - now());
			return undef unless $n;
		}
		$req->{body} = substr($$buf, 0, $cl, '');
	}
	return $req;
}

my %REASON = (100 => 'Continue', 101 => 'Switching Protocols',
    103 => 'Early Hints', 200 => 'OK', 201 => 'Created', 204 => 'No Content',
    301 => 'Moved Permanently', 302 => 'Found', 304 => 'Not Modified',
    400 => 'Bad Request', 404 => 'Not Found', 500 => 'Internal Server Error',
    502 => 'Bad Gateway', 503 => 'Service Unavailable');

# An HTTP/1.1 backend. handler => sub { my ($req) = @_; ...; return
# ($status, [name => value, ...], $body) }. $req as from _read_request,
# plus conn (connection number, from 1) and n (request number on it).
# <$body> may be a string, an array ref of chunks (sent chunked unless a
# Content-Length header is given) or a code ref called with the socket
# (it writes the body itself; the connection is closed afterwards).
# Returning an empty list closes the connection without a response.
# Keep-alive unless the request or the response says close; idle
# connections are closed after <idle> seconds (default 30).
# Default handler: 200 with the request head and body echoed.
sub http_backend {
	my ($self, $label, %o) = @_;
	my $handler = $o{handler} // sub {
		my ($r) = @_;
		return (200, ['Content-Type' => 'text/plain'],
		    $r->{head} . $r->{body});
	};
	my $idle = $o{idle} // 30;
	return $self->_server($label, sub {
		my ($sock, $conn) = @_;
		my $buf = '';
		my $n = 0;
		while (1) {
			my $req = _read_request($sock, \$buf, $idle,
			    continue => $o{continue} // 1) or last;
			$req->{conn} = $conn;
			$req->{n} = ++$n;
			my ($status, $hdrs, $body) = $handler->($req);
			last unless defined $status;
			$hdrs //= [];
			$body //= '';
			my ($code) = $status =~ /^(\d+)/;
			$status = "$status " . ($REASON{$status} // 'Whatever')
			    if $status =~ /^\d+$/;
			my $out = "HTTP/1.1 $status\r\n";
			my ($has_cl, $has_te, $close);
			for (my $i = 0; $i < @$hdrs; $i += 2) {
				my ($k, $v) = @$hdrs[$i, $i + 1];
				$has_cl = 1 if lc $k eq 'content-length';
				$has_te = 1 if lc $k eq 'transfer-encoding';
				$close = 1 if lc $k eq 'connection'
				    && $v =~ /close/i;
				$out .= "$k: $v\r\n";
			}
			my $noclose_body = $code >= 200 && $code != 204
			    && $code != 304;
			if (ref $body eq 'ARRAY' && !$has_cl) {
				$out .= "Transfer-Encoding: chunked\r\n"
				    unless $has_te;
				$has_te = 1;
			} elsif (!ref $body && !$has_cl && !$has_te
			    && $noclose_body) {
				$out .= "Content-Length: " . length($body)
				    . "\r\n";
			}
			my $want_close = ($req->{h}{connection} // '')
			    =~ /close/i || ($req->{version} eq 'HTTP/1.0'
			    && ($req->{h}{connection} // '') !~ /keep-alive/i);
			if ($want_close && !$close) {
				$out .= "Connection: close\r\n";
				$close = 1;
			}
			$out .= "\r\n";
			my $send_body = $req->{method} ne 'HEAD'
			    && $noclose_body;
			if (ref $body eq 'CODE') {
				_write_all($sock, $out) or last;
				$body->($sock, $req) if $send_body;
				last;
			}
			if ($send_body) {
				if (ref $body eq 'ARRAY') {
					$out .= sprintf("%x\r\n%s\r\n",
					    length $_, $_) for @$body;
					$out .= "0\r\n\r\n";
				} else {
					$out .= $body;
				}
			}
			_write_all($sock, $out) or last;
			last if $close;
		}
	}, %o);
}

# A backend whose connections are handled by <cb>->($sock, $request_text,
# $conn_number): it writes whatever it wants and may sleep; the
# connection is closed when it returns. The request (head, plus a
# Content-Length body) is read first unless read => 0.
sub raw_backend {
	my ($self, $label, $cb, %o) = @_;
	my $read = $o{read} // 1;
	return $self->_server($label, sub {
		my ($sock, $conn) = @_;
		my $text = '';
		if ($read) {
			my $buf = '';
			my $req = _read_request($sock, \$buf, 10);
			$text = $req ? $req->{head} . $req->{body} : $buf;
		}
		$cb->($sock, $text, $conn);
	}, %o);
}

###########################################################################
# clients

# parse_responses($raw, head => [bool, ...] | bool): every message in
# <$raw> (1xx included), as hashes; see Portico::Test::Conn::_parse.
sub parse_responses {
	my ($raw, %o) = @_;
	my @heads = ref $o{head} ? @{$o{head}} : ();
	my $buf = $raw;
	my @r;
	while (length $buf) {
		my $head = ref $o{head} ? ($heads[0] // 0) : ($o{head} // 0);
		my $m = Portico::Test::Conn::_parse(\$buf, 1, $head) or last;
		shift @heads if ref $o{head} && $m->{status}
		    && $m->{status} >= 200;
		push @r, $m;
		last unless $m->{complete};
	}
	return @r;
}

# the first message in <$raw> (a hash), or undef
sub parse_response {
	my ($raw, %o) = @_;
	return undef unless defined $raw;
	my @r = parse_responses($raw, %o);
	return $r[0];
}

# http($port, $raw, %opts): send <$raw> (a string, or an array ref of
# parts sent <delay> seconds apart) to 127.0.0.1:<$port> and read until
# <responses> (default 1) final responses are complete, the server
# closes, or <timeout> (default 5 s) passes. Returns everything read.
# Options: host, timeout, responses, head (the request is HEAD; also
# guessed from the first request line), delay, wait_close (keep reading
# until EOF, bounded by the timeout).
sub http {
	my ($port, $raw, %o) = @_;
	my $c = Portico::Test::Conn->new($port, %o) or return undef;
	my $timeout = $o{timeout} // 5;
	my @parts = ref $raw ? @$raw : ($raw);
	while (@parts) {
		$c->send(shift @parts);
		sleep($o{delay} // 0.2) if @parts;
	}
	my $want = $o{responses} // 1;
	my @heads = ref $o{head} ? @{$o{head}}
	    : (($o{head} // (!ref $raw && $raw =~ /^HEAD /)) ? 1 : 0);
	my $end = now() + $timeout;
	my $got = 0;
	while ($got < $want) {
		my $left = $end - now();
		last if $left <= 0;
		my $m = $c->read_response(timeout => $left,
		    head => $heads[$got] // 0) or last;
		$got++ if $m->{status} && $m->{status} >= 200;
		last unless $m->{complete};
	}
	if ($o{wait_close}) {
		$c->closed($end - now());
	}
	return $c->{raw};
}

# http_get($port, $uri, %opts): GET with Host: localhost and
# Connection: close (HTTP/1.1). Options: host (Host header), headers
# (extra header lines, string or array ref), method, plus http()'s.
sub http_get {
	my ($port, $uri, %o) = @_;
	my $method = $o{method} // 'GET';
	my $req = "$method $uri HTTP/1.1\r\nHost: " . ($o{host} // 'localhost')
	    . "\r\n";
	$req .= "Connection: close\r\n" unless $o{keepalive};
	my $h = $o{headers} // [];
	$req .= join '', map { /\r\n$/ ? $_ : "$_\r\n" } ref $h ? @$h : ($h);
	$req .= "\r\n";
	return http($port, $req, head => $method eq 'HEAD', %o);
}

# http_keepalive($port, [$req1, $req2, ...], %opts): send each request
# after the previous response on one connection; returns the parsed
# responses (hashes, 1xx skipped); stops at the first missing response.
sub http_keepalive {
	my ($port, $reqs, %o) = @_;
	my $c = Portico::Test::Conn->new($port, %o) or return ();
	my @r;
	for my $req (@$reqs) {
		$c->send($req) or last;
		my $m = $c->read_final(timeout => $o{timeout} // 5,
		    head => ($req =~ /^HEAD / ? 1 : 0)) or last;
		push @r, $m;
		last unless $m->{complete};
	}
	return @r;
}

###########################################################################

package Portico::Test::Conn;

# One client connection. new($port, host => '127.0.0.1'); send($bytes);
# read_response(timeout =>, head =>) returns the next message (1xx
# included) as a hash: status version reason headers ([n, v] pairs)
# h (lower-case name => values joined by ", ") body raw complete
# chunked last_chunk; read_final() skips 1xx (they go to {interim});
# closed($timeout) is true once the peer closed the connection.

use strict;
use warnings;
use IO::Select;
use IO::Socket::IP;
use Time::HiRes qw(sleep);

sub new {
	my ($class, $port, %o) = @_;
	my $host = $o{peer} // $o{addr} // '127.0.0.1';
	my $s = IO::Socket::IP->new(PeerHost => $host, PeerPort => $port,
	    Proto => 'tcp', Timeout => $o{connect_timeout} // 5) or return undef;
	binmode $s;
	$s->autoflush(1);
	return bless { sock => $s, buf => '', raw => '', eof => 0 }, $class;
}

sub sock { $_[0]{sock} }

sub send {
	my ($self, $data) = @_;
	return Portico::Test::_write_all($self->{sock}, $data);
}

# read more bytes; returns bytes read, 0 on EOF, undef on timeout
sub _fill {
	my ($self, $timeout) = @_;
	return 0 if $self->{eof};
	my $sel = IO::Select->new($self->{sock});
	return undef unless $sel->can_read($timeout > 0 ? $timeout : 0);
	my $chunk = '';
	my $n = sysread($self->{sock}, $chunk, 65536);
	if (!$n) {		# EOF or ECONNRESET
		$self->{eof} = 1;
		$self->{reset} = 1 if !defined $n;
		return 0;
	}
	$self->{buf} .= $chunk;
	$self->{raw} .= $chunk;
	return $n;
}

sub read_response {
	my ($self, %o) = @_;
	my $end = Portico::Test::now() + ($o{timeout} // 5);
	while (1) {
		my $m = _parse(\$self->{buf}, $self->{eof}, $o{head});
		return $m if $m;
		return undef if $self->{eof} && $self->{buf} eq '';
		if ($self->{eof}) {
			# unparseable leftovers
			my $raw = $self->{buf};
			$self->{buf} = '';
			return { raw => $raw, complete => 0, status => undef,
			    headers => [], h => {}, body => '' };
		}
		my $left = $end - Portico::Test::now();
		if ($left <= 0) {
			# timed out: report a partial message if any
			return undef if $self->{buf} eq '';
			my $b = $self->{buf};
			my $m = _parse(\$b, 1, $o{head});
			$m->{timeout} = 1 if $m;
			return $m;
		}
		$self->_fill($left);
	}
}

sub read_final {
	my ($self, %o) = @_;
	my @interim;
	while (1) {
		my $m = $self->read_response(%o) or return undef;
		if ($m->{status} && $m->{status} < 200 && $m->{complete}) {
			push @interim, $m;
			next;
		}
		$m->{interim} = \@interim;
		return $m;
	}
}

# true once the peer has closed (EOF or reset) within <timeout>; data
# that arrives meanwhile is kept in {buf}/{raw}
sub closed {
	my ($self, $timeout) = @_;
	my $end = Portico::Test::now() + ($timeout // 5);
	while (!$self->{eof}) {
		my $left = $end - Portico::Test::now();
		return 0 if $left <= 0;
		$self->_fill($left);
	}
	return 1;
}

# non-blocking: has the peer already closed? (used by clients before
# reusing a keep-alive connection, like a browser or wrk would)
sub peer_closed_now {
	my ($self) = @_;
	return 1 if $self->{eof};
	while (IO::Select->new($self->{sock})->can_read(0)) {
		last unless $self->_fill(0);
	}
	return $self->{eof};
}

sub close {
	my ($self) = @_;
	close $self->{sock};
}

# Parse one message at the start of <$$buf>. With <eof> set, the data is
# all there will be: an incomplete message is returned with complete = 0.
# Returns undef when more data is needed. Consumes what it returns.
sub _parse {
	my ($buf, $eof, $head) = @_;
	my $i = index($$buf, "\r\n\r\n");
	if ($i < 0) {
		return undef unless $eof && length $$buf;
		my $raw = $$buf;
		$$buf = '';
		my $m = { raw => $raw, complete => 0, headers => [], h => {},
		    body => '' };
		@$m{qw(version status reason)} =
		    $raw =~ m{^HTTP/(\d\.\d) (\d{3})(?: ([^\r\n]*))?};
		return $m;
	}
	my $hd = substr($$buf, 0, $i + 4);
	my ($line, @lines) = split /\r\n/, substr($hd, 0, $i);
	my $m = { headers => [], h => {}, body => '', complete => 0,
	    head => $hd };
	@$m{qw(version status reason)} =
	    $line =~ m{^HTTP/(\d\.\d) (\d{3})(?: (.*))?$};
	for (@lines) {
		my ($n, $v) = /^([^:]*):[ \t]*(.*?)[ \t]*$/ or next;
		push @{$m->{headers}}, [$n, $v];
		my $k = lc $n;
		$m->{h}{$k} = exists $m->{h}{$k} ? "$m->{h}{$k}, $v" : $v;
	}
	my $st = $m->{status} // 0;
	my $pos = $i + 4;
	my $te = $m->{h}{'transfer-encoding'} // '';
	my $cl = $m->{h}{'content-length'};
	if (($st >= 100 && $st < 200) || $st == 204 || $st == 304 || $head) {
		$m->{complete} = 1;
	} elsif ($te =~ /chunked\s*$/i) {
		$m->{chunked} = 1;
		my $p = $pos;
		my $body = '';
		while (1) {
			my $e = index($$buf, "\r\n", $p);
			last if $e < 0;
			my $sl = substr($$buf, $p, $e - $p);
			my ($hex) = $sl =~ /^([0-9a-fA-F]+)/;
			if (!defined $hex) { $m->{bad_chunk} = 1; last; }
			my $size = hex $hex;
			if ($size == 0) {
				my $te2 = index($$buf, "\r\n", $e + 2);
				# trailers end at an empty line
				my $t = $e + 2;
				my $done;
				while (1) {
					my $x = index($$buf, "\r\n", $t);
					last if $x < 0;
					if ($x == $t) { $done = $x + 2; last; }
					$t = $x + 2;
				}
				if (defined $done) {
					$m->{last_chunk} = 1;
					$m->{complete} = 1;
					$p = $done;
				}
				last;
			}
			last if length($$buf) < $e + 2 + $size + 2;
			$body .= substr($$buf, $e + 2, $size);
			push @{$m->{chunks}}, $size;
			$p = $e + 2 + $size + 2;
		}
		if (!$m->{complete}) {
			return undef unless $eof;
			# cut short: take what is there
			$m->{body} = $body;
			$m->{raw} = $$buf;
			$$buf = '';
			return $m;
		}
		$m->{body} = $body;
		$pos = $p;
	} elsif (defined $cl && $cl =~ /^\d+$/) {
		if (length($$buf) - $pos < $cl) {
			return undef unless $eof;
			$m->{body} = substr($$buf, $pos);
			$m->{raw} = $$buf;
			$$buf = '';
			return $m;
		}
		$m->{body} = substr($$buf, $pos, $cl);
		$pos += $cl;
		$m->{complete} = 1;
	} else {
		# delimited by close
		return undef unless $eof;
		$m->{body} = substr($$buf, $pos);
		$m->{close_delimited} = 1;
		$m->{complete} = 1;
		$pos = length $$buf;
	}
	$m->{raw} = substr($$buf, 0, $pos, '');
	return $m;
}

1;
