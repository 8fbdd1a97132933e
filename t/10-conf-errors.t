# Command line and configuration errors: -t on a good config; every error
# path (both dialects) names file:line and the directive and exits 1,
# and nothing starts; -T prints native syntax that passes -t and dumps
# identically; -v, -V, -h, -q, -g, -c of a missing file, -s without a
# running master, an unknown option.

use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use Portico::Test;

my $t = Portico::Test->new;
my $dir = $t->testdir;
my $nginx = $t->is_nginx;

# base configurations; @LOC@ is line 13, @SRV@ 15, @HTTP@ 17, @MAIN@ 20
my $NGX = <<'EOF';
daemon off;
pid logs/portico.pid;
error_log logs/error.log info;
events {
    worker_connections 64;
}
http {
    access_log logs/access.log;
    server {
        listen 127.0.0.1:%%PORT_A%%;
        location / {
            return 200 "ok\n";
            @LOC@
        }
        @SRV@
    }
    @HTTP@
    %%NGINX_ONLY%%
}
@MAIN@
EOF

my $NAT = <<'EOF';
daemon = off
pid = 'logs/portico.pid'
error_log = {'logs/error.log', 'info'}
events {
    worker_connections = 64
}
http {
    access_log = 'logs/access.log'
    server {
        listen = '127.0.0.1:%%PORT_A%%'
        location '/' {
            return = {'200', "ok\n"}
            @LOC@
        }
        @SRV@
    }
    @HTTP@

}
@MAIN@
EOF

my %LINE = (LOC => 13, SRV => 15, HTTP => 17, MAIN => 20);

sub make {
	my ($base, %ins) = @_;
	my $text = $base;
	for my $k (keys %LINE) {
		my $v = $ins{$k} // '';
		$text =~ s/\@$k\@/$v/;
	}
	return $text;
}

sub check {
	my ($args) = @_;
	return $t->run_cmd('-p', "$dir/", @$args, {timeout => 10});
}

###########################################################################
# -t on a good configuration (both dialects)

for my $d ($nginx ? ('nginx') : ('nginx', 'native')) {
	my $name = "good-$d.conf";
	$t->write_file($name, make($d eq 'nginx' ? $NGX : $NAT));
	my ($rc, $out, $err) = check(['-t', '-c', $name]);
	is($rc, 0, "-t good ($d): exit 0") or diag($out . $err);
	like($out . $err, qr/syntax is ok/, "-t good ($d): syntax is ok");
	like($out . $err, qr/test is successful/,
	    "-t good ($d): test is successful");

	($rc, $out, $err) = check(['-t', '-q', '-c', $name]);
	is($rc, 0, "-t -q good ($d): exit 0");
	unlike($out . $err, qr/syntax is ok/, "-t -q good ($d): quiet");
}

###########################################################################
# error paths, nginx dialect then native

# name, insertions, line, directive, message regex
my @ngx_cases = (
	['unknown directive with a close name',
	    {LOC => 'proxy_pas http://127.0.0.1:1;'}, 13, 'proxy_pas',
	    qr/did you mean "proxy_pass"/],
	['unknown directive in main with a close name',
	    {MAIN => 'wrker_processes 2;'}, 20, 'wrker_processes',
	    qr/did you mean "worker_processes"/],
	['unknown directive, nothing close',
	    {SRV => 'zzqqxx_frobnicate on;'}, 15, 'zzqqxx_frobnicate',
	    qr/unknown|no such/i],
	['directive in the wrong context (proxy_pass in main)',
	    {MAIN => 'proxy_pass http://127.0.0.1:1;'}, 20, 'proxy_pass',
	    qr/not allowed|context|here/i],
	['directive in the wrong context (worker_connections in server)',
	    {SRV => 'worker_connections 10;'}, 15, 'worker_connections',
	    qr/not allowed|context|here/i],
	['too many arguments',
	    {SRV => 'keepalive_timeout 1s 2s 3s;'}, 15, 'keepalive_timeout',
	    qr/argument/i],
	['too few arguments',
	    {LOC => 'proxy_pass;'}, 13, 'proxy_pass', qr/argument/i],
	['duplicate directive in one block',
	    {SRV => 'keepalive_timeout 5s; keepalive_timeout 6s;'}, 15,
	    'keepalive_timeout', qr/duplicate/i],
	['bad size',
	    {SRV => 'client_max_body_size 1x;'}, 15, 'client_max_body_size',
	    qr/invalid|bad|size/i],
	['bad time',
	    {HTTP => 'keepalive_timeout 5y;'}, 17, 'keepalive_timeout',
	    qr/invalid|bad|time/i],
	['bad flag',
	    {LOC => 'proxy_buffering maybe;'}, 13, 'proxy_buffering',
	    qr/invalid|bad|on|off/i],
	['bad number',
	    {MAIN => 'worker_processes lots;'}, 20, 'worker_processes',
	    qr/invalid|bad|number/i],
	['bad log level',
	    {MAIN => 'error_log logs/x.log loud;'}, 20, 'error_log',
	    qr/invalid|bad|level|loud/i],
	['bad return code',
	    {LOC => 'return abc;'}, 13, 'return', qr/invalid|bad|code/i],
	['listen with a bad port',
	    {SRV => 'listen 127.0.0.1:99999;'}, 15, 'listen',
	    qr/invalid|bad|port/i],
	['listen with a non-numeric port',
	    {SRV => 'listen 127.0.0.1:http8;'}, 15, 'listen',
	    qr/invalid|bad|port|host/i],
	['include of a missing file',
	    {HTTP => 'include missing-file.conf;'}, 17, 'missing-file\.conf',
	    qr/no such file|not found|cannot|failed|open/i],
);

for my $case (@ngx_cases) {
	my ($name, $ins, $line, $directive, $re) = @$case;
	$t->write_file('bad.conf', make($NGX, %$ins));
	my ($rc, $out, $err) = check(['-t', '-c', 'bad.conf']);
	my $msg = $out . $err;
	is($rc, 1, "nginx: $name: exit 1");
	like($msg, qr/\bbad\.conf:$line\b/, "nginx: $name: file:line")
	    or diag($msg);
	like($msg, qr/$directive/, "nginx: $name: names the directive");
	like($msg, $re, "nginx: $name: says what is wrong");
	unlike($msg, qr/test is successful/, "nginx: $name: not successful");
}

# syntax errors whose position is not an inserted line
my @ngx_syntax = (
	['unbalanced braces (missing })',
	    make($NGX) =~ s/\n\}\n\s*$/\n/r, qr/\bbad\.conf:\d+/],
	['unbalanced braces (extra })',
	    make($NGX, MAIN => '}'), qr/\bbad\.conf:20\b/],
	['unterminated quote',
	    make($NGX, LOC => 'return 200 "abc;'), qr/\bbad\.conf:\d+/],
	['block directive without a block',
	    make($NGX, SRV => 'location /x;'), qr/\bbad\.conf:15\b/],
	['missing semicolon',
	    make($NGX, LOC => 'return 200 x'), qr/\bbad\.conf:1[34]\b/],
);
for my $case (@ngx_syntax) {
	my ($name, $text, $re) = @$case;
	$t->write_file('bad.conf', $text);
	my ($rc, $out, $err) = check(['-t', '-c', 'bad.conf']);
	is($rc, 1, "nginx: $name: exit 1");
	like($out . $err, $re, "nginx: $name: file:line") or diag($out . $err);
}

# an error in an included file names that file and its line
{
	$t->write_file('inc/part.conf', "server {\n    listen 127.0.0.1:1;\n"
	    . "    keepalive_timeout 5q;\n}\n");
	$t->write_file('bad.conf', make($NGX, HTTP => 'include inc/*.conf;'));
	my ($rc, $out, $err) = check(['-t', '-c', 'bad.conf']);
	is($rc, 1, 'nginx: error in an included file: exit 1');
	like($out . $err, qr/\bpart\.conf:3\b/,
	    'nginx: error in an included file: its file:line');
}

# a bad configuration starts nothing
{
	$t->write_file('bad.conf', make($NGX, LOC => 'proxy_pas http://127.0.0.1:1;'));
	my ($rc, $out, $err) = $t->run_cmd('-p', "$dir/", '-c', 'bad.conf',
	    {timeout => 5});
	is($rc, 1, 'run with a bad config: exit 1');
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
	    PeerPort => $t->port('A'), Proto => 'tcp');
	ok(!$s, 'run with a bad config: not listening');
	ok(!-e "$dir/logs/portico.pid", 'run with a bad config: no pid file');
}

SKIP: {
	skip('nginx has no native dialect', 1) if $nginx;

my @nat_cases = (
	['unknown directive with a close name',
	    {LOC => "proxy_pas = 'http://127.0.0.1:1'"}, 13, 'proxy_pas',
	    qr/did you mean "proxy_pass"/],
	['unknown directive, nothing close',
	    {SRV => 'zzqqxx_frobnicate = on'}, 15, 'zzqqxx_frobnicate',
	    qr/unknown|no such/i],
	['directive in the wrong context',
	    {MAIN => "proxy_pass = 'http://127.0.0.1:1'"}, 20, 'proxy_pass',
	    qr/not allowed|context|here|unknown|no such/i],
	['too many arguments',
	    {SRV => "keepalive_timeout = {'1s', '2s', '3s'}"}, 15,
	    'keepalive_timeout', qr/argument/i],
	['duplicate directive in one block',
	    {SRV => "keepalive_timeout = 5s keepalive_timeout = 6s"}, 15,
	    'keepalive_timeout', qr/duplicate/i],
	['bad size',
	    {SRV => "client_max_body_size = '1x'"}, 15, 'client_max_body_size',
	    qr/invalid|bad|size/i],
	['bad time',
	    {HTTP => "keepalive_timeout = '5y'"}, 17, 'keepalive_timeout',
	    qr/invalid|bad|time/i],
	['bad flag',
	    {LOC => "proxy_buffering = 'maybe'"}, 13, 'proxy_buffering',
	    qr/invalid|bad|on|off/i],
	['listen with a bad port',
	    {SRV => "listen = '127.0.0.1:99999'"}, 15, 'listen',
	    qr/invalid|bad|port/i],
	['include of a missing file',
	    {HTTP => "include('missing-file.conf')"}, 17, 'missing-file\.conf',
	    qr/no such file|not found|cannot|failed|open/i],
);

for my $case (@nat_cases) {
	my ($name, $ins, $line, $directive, $re) = @$case;
	$t->write_file('badn.conf', make($NAT, %$ins));
	my ($rc, $out, $err) = check(['-t', '-c', 'badn.conf']);
	my $msg = $out . $err;
	is($rc, 1, "native: $name: exit 1");
	like($msg, qr/\bbadn\.conf:$line\b/, "native: $name: file:line")
	    or diag($msg);
	like($msg, qr/$directive/, "native: $name: names the directive");
	like($msg, $re, "native: $name: says what is wrong");
}

my @nat_syntax = (
	['unbalanced braces (missing })',
	    make($NAT) =~ s/\n\}\n\s*$/\n/r, qr/\bbadn\.conf:\d+/],
	['unbalanced braces (extra })',
	    make($NAT, MAIN => '}'), qr/\bbadn\.conf:20\b/],
	['unterminated quote',
	    make($NAT, LOC => "return = {'200', \"abc}"), qr/\bbadn\.conf:\d+/],
	['missing equals sign',
	    make($NAT, SRV => "keepalive_timeout '5s'"), qr/\bbadn\.conf:1[56]\b/],
);
for my $case (@nat_syntax) {
	my ($name, $text, $re) = @$case;
	$t->write_file('badn.conf', $text);
	my ($rc, $out, $err) = check(['-t', '-c', 'badn.conf']);
	is($rc, 1, "native: $name: exit 1");
	like($out . $err, $re, "native: $name: file:line") or diag($out . $err);
}
}

###########################################################################
# -T: native dump that passes -t and dumps identically

{
	$t->write_file('full.conf', <<'EOF');
daemon off;
worker_processes 2;
pid logs/portico.pid;
error_log logs/error.log info;
events { worker_connections 128; }
http {
    log_format main '$remote_addr [$time_local] "$request" $status '
                    '"$http_user_agent" \'q\' "dq\\"x"';
    access_log logs/access.log main;
    keepalive_timeout 30s;
    client_max_body_size 2m;
    upstream back {
        server 127.0.0.1:1 weight=2;
        server 127.0.0.1:2;
        keepalive 4;
    }
    server {
        listen 127.0.0.1:%%PORT_A%% default_server;
        server_name example.com *.example.org;
        location / { return 200 "hello; world\n"; }
        location = /exact { return 301 http://example.com/; }
        location /api/ {
            proxy_pass http://back/v1/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_read_timeout 5s;
            location /api/inner/ { proxy_buffering off; proxy_pass http://back; }
        }
        error_page 502 504 /err;
        location = /err { return 200 "err\n"; }
    }
    %%NGINX_ONLY%%
}
EOF
	my ($rc, $dump, $err) = check(['-T', '-c', 'full.conf']);
	is($rc, 0, '-T: exit 0') or diag($err);
	unlike($dump, qr/syntax is ok|test is successful/,
	    '-T: messages not on stdout');
	like($err, qr/syntax is ok/, '-T: messages on stderr');
	like($dump, qr/^\s*proxy_pass\s*=\s*['"]http:\/\/back\/v1\/['"]\s*$/m,
	    '-T: native syntax (name = value)');
	unlike($dump, qr/;\s*$/m, '-T: no nginx-style semicolons');
	$t->write_file('dump.conf', $dump);
	($rc, my $out, $err) = check(['-t', '-c', 'dump.conf']);
	is($rc, 0, '-T output passes -t') or diag($err);
	($rc, my $dump2, $err) = check(['-T', '-c', 'dump.conf']);
	is($dump2, $dump, '-T of the dump is identical');

	# and it serves the same: the quoted return text survived
	like($dump, qr/hello; world/, '-T: quoted text kept');
}

###########################################################################
# -v -V -h and other command-line cases

{
	my ($rc, $out, $err) = $t->run_cmd('-v');
	is($rc, 0, '-v: exit 0');
	like($out . $err, qr/version/i, '-v: prints the version');

	($rc, $out, $err) = $t->run_cmd('-V');
	my $v = $out . $err;
	is($rc, 0, '-V: exit 0');
	like($v, qr/configure arguments/i, '-V: configure arguments');
	like($v, qr/OpenSSL \d/, '-V: OpenSSL version');
	SKIP: {
		skip('nginx', 3) if $nginx;
		like($v, qr/PCRE2 \d/, '-V: PCRE2 version');
		like($v, qr/libconfuse \d/i, '-V: libconfuse version');
		like($v, qr/\bproxy\b.*\bupstream\b|\bupstream\b.*\bproxy\b/s,
		    '-V: compiled-in module names');
	}

	($rc, $out, $err) = $t->run_cmd('-h');
	my $h = $out . $err;
	is($rc, 0, '-h: exit 0');
	for my $opt (qw(c p e g t T q v V s h)) {
		like($h, qr/-$opt\b/, "-h mentions -$opt");
	}

	($rc, $out, $err) = $t->run_cmd('-Z');
	isnt($rc, 0, 'unknown option: non-zero exit');
	like($out . $err, qr/-Z|option/i, 'unknown option: says so');

	($rc, $out, $err) = check(['-t', '-c', 'no-such-file.conf']);
	is($rc, 1, '-c missing file: exit 1');
	like($out . $err, qr/no-such-file\.conf/, '-c missing file: named');

	$t->write_file('g.conf', make($NGX));
	($rc, $out, $err) = check(['-t', '-c', 'g.conf', '-g',
	    'worker_processes 3;']);
	is($rc, 0, '-g: extra directive accepted') or diag($out . $err);
	($rc, $out, $err) = check(['-t', '-c', 'g.conf', '-g',
	    'no_such_global 1;']);
	is($rc, 1, '-g: bad directive rejected');
	like($out . $err, qr/no_such_global/, '-g: error names the directive');

	unlink "$dir/logs/portico.pid";
	($rc, $out, $err) = check(['-c', 'g.conf', '-s', 'reload']);
	is($rc, 1, '-s without a running master: exit 1');
	like($out . $err, qr/portico\.pid|pid/i, '-s without a master: says why');
}

done_testing;
