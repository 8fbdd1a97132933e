#!/usr/bin/perl
# 90-man.t: the man pages lint clean, document every directive the code
# declares (and no other), and their examples are accepted by portico -t.
#
# Sources: $PORTICO_SRCDIR (default: the parent of this file's directory).
# Binary:  $PORTICO_BINARY (the checks that need it are skipped when it is
# missing). mandoc is optional: the lint is skipped when it is not found.

use strict;
use warnings;

use File::Basename qw(dirname);
use File::Find qw(find);
use File::Spec;
use File::Temp qw(tempdir);
use POSIX ();
use Test::More;

my $src = $ENV{PORTICO_SRCDIR}
    // File::Spec->rel2abs(File::Spec->catdir(dirname(__FILE__), '..'));
my $bin = $ENV{PORTICO_BINARY};
my $man8 = "$src/man/portico.8";
my $man5 = "$src/man/portico.conf.5";

# Names the configuration reader handles itself rather than a module's
# directive table; each must still appear as a string in the sources.
my %READER = (include => 1);

# Sections of portico.conf.5 whose .It Ic items are directives.
my %DIRSECT = map { $_ => 1 } ('GLOBAL CONFIGURATION', 'EVENTS',
    'HTTP SERVERS', 'LOCATIONS', 'UPSTREAMS', 'MODULES');

sub slurp {
	my ($path) = @_;
	open(my $fh, '<', $path) or die "cannot open $path: $!\n";
	local $/;
	my $s = <$fh>;
	close($fh);
	return $s;
}

sub which {
	my ($prog) = @_;
	for my $d (split(/:/, $ENV{PATH} // '')) {
		return "$d/$prog" if $d ne '' && -x "$d/$prog";
	}
	return undef;
}

# Run <cmd...> without a shell; returns (exit status, stdout+stderr).
sub run {
	my (@cmd) = @_;
	my $pid = open(my $fh, '-|');
	die "fork: $!\n" unless defined $pid;
	if ($pid == 0) {
		open(STDERR, '>&', \*STDOUT);
		open(STDIN, '<', '/dev/null');
		exec(@cmd) or POSIX::_exit(127);
	}
	local $/;
	my $out = <$fh> // '';
	close($fh);
	return ($? >> 8, $out);
}

# Directive items of portico.conf.5: name => body text (the lines after
# the item up to the next item at the same level). An ".It Xo" item
# takes its name from the ".Ic" line that follows; consecutive items
# without a body of their own (access_log, return) share the next body.
sub man_directives {
	my ($text) = @_;
	my (%items, @pending, $sect, $depth, $xo);
	my @lines = split(/\n/, $text);
	$depth = 0;
	for (my $i = 0; $i < @lines; $i++) {
		my $l = $lines[$i];
		if ($l =~ /^\.Sh\s+(.*?)\s*$/) {
			$sect = $1;
			@pending = ();
			$depth = 0;
			next;
		}
		next unless defined $sect && $DIRSECT{$sect};
		if ($l =~ /^\.Bl\b/) {
			$depth++;
			next;
		}
		if ($l =~ /^\.El\b/) {
			$depth--;
			next;
		}
		next unless $depth == 1;
		if ($l =~ /^\.It\s+Xo\s*$/) {
			$l = $lines[++$i] // '';
			$l =~ /^\.Ic\s+(\S+)/ or next;
			$xo = $1;
		}
		if (defined $xo || $l =~ /^\.It\s+Ic\s+(\S+)/) {
			my $name = $xo // $1;
			undef $xo;
			@pending = () if @pending && $items{$pending[-1]} ne '';
			push(@pending, $name) unless grep { $_ eq $name } @pending;
			$items{$name} //= '';
			next;
		}
		next if $l =~ /^\.(?:Xc|Op|Oo|Oc|Ar|Cm)\b/ && @pending
		    && $items{$pending[-1]} eq '';
		$items{$_} .= "$l\n" for @pending;
	}
	return \%items;
}

# Directive names declared in the C sources: rows of pt_directive tables,
# which start with the quoted name followed by the contexts, as in
#   { "proxy_pass", PT_CTX_LOCATION, ... }
# possibly through a macro: PT_DIR_X("name", PT_CTX_...).
sub source_directives {
	my (%names, @files, $all);
	for my $dir (grep { -d } map { "$src/$_" } qw(modules master worker)) {
		find(sub { push(@files, $File::Find::name) if /\.c\z/ }, $dir);
	}
	$all = '';
	for my $f (sort @files) {
		my $s = slurp($f);
		$all .= $s;
		$s =~ s{/\*.*?\*/}{ }gs;	# comments
		while ($s =~ /(?:\{|\b[A-Z][A-Z0-9_]*\()\s*"([a-z][a-z0-9_]*)"\s*,
		    \s*\(?\s*PT_CTX_/gx) {
			$names{$1} = 1;
		}
	}
	return (\%names, $all, scalar(@files));
}

# Literal displays (.Bd -literal ... .Ed) of the EXAMPLES section, with
# the roff escapes used in them undone.
sub man_examples {
	my ($text) = @_;
	my ($sect, $in, @ex) = ('', 0);
	for my $l (split(/\n/, $text)) {
		if ($l =~ /^\.Sh\s+(.*?)\s*$/) {
			$sect = $1;
			next;
		}
		next unless $sect eq 'EXAMPLES';
		if ($l =~ /^\.Bd\s+-literal/) {
			$in = 1;
			push(@ex, '');
			next;
		}
		if ($l =~ /^\.Ed\b/) {
			$in = 0;
			next;
		}
		next unless $in;
		$l =~ s/\\e/\\/g;
		$l =~ s/\\&//g;
		$ex[-1] .= "$l\n";
	}
	return @ex;
}

ok(-r $man8, 'portico.8 exists');
ok(-r $man5, 'portico.conf.5 exists');

# --- mandoc lint -----------------------------------------------------
SKIP: {
	my $mandoc = which('mandoc');
	skip('mandoc is not installed', 2) unless $mandoc;
	for my $page ($man8, $man5) {
		my ($rc, $out) = run($mandoc, '-T', 'lint', '-W', 'warning',
		    $page);
		ok($rc == 0 && $out eq '', "mandoc lint: " . (split(m{/}, $page))[-1])
		    or diag($out);
	}
}

# --- directives: man page against the sources ------------------------
my $man = slurp($man5);
my $items = man_directives($man);
my @documented = sort keys %$items;
cmp_ok(scalar(@documented), '>', 40, 'portico.conf.5 lists directives')
    or diag('found: ' . join(' ', @documented));

my @nocontext = grep { $items->{$_} !~ /Allowed in\b/ } @documented;
is(join(' ', @nocontext), '', 'every directive states its context');

my ($code, $all, $nfiles) = source_directives();
SKIP: {
	skip('no directive tables in the sources yet', 3)
	    unless %$code;
	my @undoc = grep { !exists $items->{$_} } sort keys %$code;
	is(join(' ', @undoc), '',
	    'every directive in the sources is documented in portico.conf.5')
	    or diag('not in portico.conf.5: ' . join(' ', @undoc));
	my @unknown = grep { !$code->{$_} && !$READER{$_} } @documented;
	is(join(' ', @unknown), '',
	    'every directive in portico.conf.5 exists in the sources')
	    or diag('not in the sources: ' . join(' ', @unknown));
	my @noreader = grep { index($all, "\"$_\"") < 0 } sort keys %READER;
	is(join(' ', @noreader), '', 'reader keywords exist in the sources')
	    or diag('not in the sources: ' . join(' ', @noreader));
}

# --- the binary: -V, and the documented examples pass -t -------------
SKIP: {
	skip('no portico binary (PORTICO_BINARY)', 5)
	    unless defined $bin && -x $bin;

	my ($rc, $out) = run($bin, '-V');
	is($rc, 0, 'portico -V exits 0') or diag($out);
	like($out, qr/portico/i, 'portico -V names the program');

	my @ex = man_examples($man);
	my $dir = tempdir(CLEANUP => 1);
	mkdir("$dir/logs");
	my $n = 0;
	my @failed;
	for my $conf (@ex) {
		$n++;
		my $file = "$dir/example$n.conf";
		open(my $fh, '>', $file) or die "$file: $!\n";
		print $fh $conf;
		close($fh);
		my ($rc, $out) = run($bin, '-t', '-p', "$dir/", '-c', $file);
		push(@failed, "example $n:\n$out") if $rc != 0;
	}
	ok($n >= 2 && !@failed,
	    "portico -t accepts the $n configurations in EXAMPLES")
	    or diag(join("\n", @failed));

	# the native and the nginx example are the same configuration
	my @dump = map {
		my ($rc, $out) = run($bin, '-T', '-q', '-p', "$dir/", '-c',
		    "$dir/example$_.conf");
		$rc == 0 ? $out : "exit $rc: $out";
	} (1, 2);
	ok($dump[0] ne '' && $dump[0] eq $dump[1],
	    'portico -T prints the same configuration for both EXAMPLES')
	    or diag("example 1:\n$dump[0]\nexample 2:\n$dump[1]");

	($rc, $out) = run($bin, '-t', '-p', "$dir/", '-c',
	    "$src/etc/portico.conf");
	is($rc, 0, 'portico -t accepts etc/portico.conf') or diag($out);
}

done_testing();
