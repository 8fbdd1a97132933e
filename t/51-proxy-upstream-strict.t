# Upstream responses are parsed as strictly as requests: malformed or
# ambiguous heads give 502 (never relayed raw) and the upstream
# connection is closed; a response cut short is never presented as
# complete; interim 1xx responses never swallow the final one; an
# unsolicited 101 opens no tunnel.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(sleep);
use IO::Select;
use Portico::Test;

my $t = Portico::Test->new;
$t->write_conf(<<'EOF');
daemon off;
worker_processes 1;
pid logs/portico.pid;
error_log logs/error.log info;
events { worker_connections 128; }
http {
    %%NGINX_ONLY%%
    access_log logs/access.log;
    upstream kup {
        server 127.0.0.1:%%PORT_U%%;
        keepalive 4;
    }
    server {
        listen 127.0.0.1:%%PORT_A%%;
        location /s/ {
            proxy_pass http://127.0.0.1:%%PORT_U%%;
            proxy_http_version 1.1;
            proxy_buffer_size 4k;
            proxy_read_timeout 3s;
        }
        location /k/ {
            proxy_pass http://kup;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffer_size 4k;
            proxy_read_timeout 3s;
        }
    }
}
EOF

my $dir = $t->testdir;
my $big = 'X-Big: ' . ('b' x 8000) . "\r\n";

# responses that must give 502 (each contains LEAK, never relayed)
my %bad = (
	garbage		=> "garbage LEAK\r\n\r\n",
	no_status	=> "Content-Length: 4\r\n\r\nLEAK",
	http09		=> "LEAK LEAK LEAK LEAK\r\n",
	bad_code	=> "HTTP/1.1 2000 OK\r\nContent-Length: 4\r\n\r\nLEAK",
	short_code	=> "HTTP/1.1 20 OK\r\nContent-Length: 4\r\n\r\nLEAK",
	bad_version	=> "HTTP/x.1 200 OK\r\nContent-Length: 4\r\n\r\nLEAK",
	cl_te		=> "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n"
			   . "Transfer-Encoding: chunked\r\n\r\n"
			   . "4\r\nLEAK\r\n0\r\n\r\n",
	te_cl		=> "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
			   . "Content-Length: 4\r\n\r\n"
			   . "4\r\nLEAK\r\n0\r\n\r\n",
	two_cl		=> "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n"
			   . "Content-Length: 5\r\n\r\nLEAK!",
	neg_cl		=> "HTTP/1.1 200 OK\r\nContent-Length: -4\r\n\r\nLEAK",
	bad_cl		=> "HTTP/1.1 200 OK\r\nContent-Length: 4x\r\n\r\nLEAK",
	plus_cl		=> "HTTP/1.1 200 OK\r\nContent-Length: +4\r\n\r\nLEAK",
	obs_fold	=> "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\n"
			   . "Content-Length: 4\r\n\r\nLEAK",
	bare_cr		=> "HTTP/1.1 200 OK\r\nX-A: a\rb\r\n"
			   . "Content-Length: 4\r\n\r\nLEAK",
	bare_lf		=> "HTTP/1.1 200 OK\nContent-Length: 4\n\nLEAK",
	nul		=> "HTTP/1.1 200 OK\r\nX-A: a\0b\r\n"
			   . "Content-Length: 4\r\n\r\nLEAK",
	nul_name	=> "HTTP/1.1 200 OK\r\nX\0A: b\r\n"
			   . "Content-Length: 4\r\n\r\nLEAK",
	ctl		=> "HTTP/1.1 200 OK\r\nX-A: a\x01b\r\n"
			   . "Content-Length: 4\r\n\r\nLEAK",
	big_head	=> "HTTP/1.1 200 OK\r\n$big"
			   . "Content-Length: 4\r\n\r\nLEAK",
	sw101		=> "HTTP/1.1 101 Switching Protocols\r\n"
			   . "Connection: Upgrade\r\nUpgrade: evil\r\n\r\n"
			   . "TUNNEL LEAK",
);

my %special = (
	cut_cl		=> "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
			   . "0123456789",
	cut_chunked	=> "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
			   . "\r\n5\r\nhello\r\n",
	bad_chunk	=> "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
			   . "\r\n5\r\nhello\r\nzz\r\nLEAK\r\n0\r\n\r\n",
	c100		=> "HTTP/1.1 100 Continue\r\n\r\n"
			   . "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal",
	e103		=> "HTTP/1.1 103 Early Hints\r\n"
			   . "Link: </s.css>; rel=preload\r\n\r\n"
			   . "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal",
	close_delim	=> "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
			   . "until the end",
	head		=> "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n",
	ok		=> "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
);

# The backend answers by the last path segment, then (for the bad ones)
# records whether the proxy closed the upstream connection.
$t->raw_backend('U', sub {
	my ($s, $req) = @_;
	my ($uri) = $req =~ m{^\S+ (\S+)};
	my ($case) = ($uri // '') =~ m{/([a-z0-9_]+)$};
	$case //= 'none';
	my $resp = $bad{$case} // $special{$case}
	    // "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
	Portico::Test::_write_all($s, $resp);
	if ($case eq 'head') {
		sleep 2;		# no body is coming; do not close
		return;
	}
	return unless $bad{$case};
	# wait (bounded) for the proxy to close its side
	my $sel = IO::Select->new($s);
	my $state = 'open';
	my $end = now() + 3;
	while (now() < $end) {
		next unless $sel->can_read($end - now());
		my $n = sysread($s, my $b, 4096);
		if (!$n) { $state = 'closed'; last }
		$state = 'reused';	# got another request on it
		last;
	}
	if (open my $fh, '>', "$dir/closed-$case") {
		print $fh $state;
		close $fh;
	}
});

$t->run;
my $port = $t->port('A');

# keep-alive request, one response, then see if the client connection
# gets closed
sub req {
	my ($uri, %o) = @_;
	my $c = Portico::Test::Conn->new($port) or return ({}, 0, '');
	my $method = $o{method} // 'GET';
	my $v = $o{version} // '1.1';
	$c->send("$method $uri HTTP/$v\r\nHost: localhost\r\n\r\n");
	my $m = $o{final} ? $c->read_final(timeout => 5, head => $method eq 'HEAD')
	    : $c->read_response(timeout => 5, head => $method eq 'HEAD');
	return ($m // {}, $c);
}

for my $case (sort keys %bad) {
	for my $loc ('s', 'k') {
		my ($m, $c) = req("/$loc/$case");
		is($m->{status}, 502, "$case ($loc): 502");
		unlike($c ? $c->{raw} : '', qr/LEAK/, "$case ($loc): not relayed");
		next unless $loc eq 'k';
		# keep-alive pool: the connection must be closed, not reused
		my $st = '';
		wait_until(sub {
			$st = $t->read_file("closed-$case"); $st ne '' }, 5);
		is($st, 'closed', "$case: upstream connection closed");
		unlink "$dir/closed-$case";
	}
}

# the keep-alive pool still works after all that
{
	my ($m) = req('/k/ok');
	is($m->{body}, 'ok', 'good response via the pool after bad ones');
}

# cut short with Content-Length: 10 of 100 bytes, then the client
# connection is closed, the response is not complete
for my $loc ('s', 'k') {
	my ($m, $c) = req("/$loc/cut_cl");
	is($m->{status}, 200, "cut_cl ($loc): 200 head relayed");
	ok($c && $c->closed(4), "cut_cl ($loc): client connection closed");
	my $m2 = parse_response($c ? $c->{raw} : '') // {};
	ok(!$m2->{complete}, "cut_cl ($loc): response not complete");
	is($m2->{h}{'content-length'}, 100, "cut_cl ($loc): length not rewritten");
}

# chunked response cut short: no terminating chunk, connection closed
# (or a 502 if the proxy had not sent anything yet)
for my $case ('cut_chunked', 'bad_chunk') {
	for my $loc ('s', 'k') {
		my ($m, $c) = req("/$loc/$case");
		my $closed = $c && $c->closed(4);
		my $m2 = parse_response($c ? $c->{raw} : '') // {};
		ok(($m2->{status} // 0) == 502
		    || (!$m2->{complete} && !$m2->{last_chunk} && $closed),
		    "$case ($loc): never presented as complete");
		ok($closed || ($m2->{status} // 0) == 502,
		    "$case ($loc): client connection closed");
		unlike($c ? $c->{raw} : '', qr/LEAK/, "$case ($loc): no garbage");
	}
}

# 100 Continue then 200: the 200 arrives
{
	my ($m, $c) = req('/s/c100', final => 1);
	is($m->{status}, 200, '100 then 200: final response arrives');
	is($m->{body}, 'final', '100 then 200: body');
}

# 103 Early Hints relayed to a 1.1 client, then the 200
{
	my ($m, $c) = req('/s/e103');
	is($m->{status}, 103, '103 relayed');
	like($m->{h}{link} // '', qr/preload/, '103: Link header');
	my $f = $c ? $c->read_final(timeout => 5) : undef;
	is($f && $f->{status}, 200, '103 then 200');
	is($f && $f->{body}, 'final', '103 then 200: body');
}

# ... but never to an HTTP/1.0 client
{
	my ($m, $c) = req('/s/e103', version => '1.0');
	is($m->{status}, 200, 'no 1xx to an HTTP/1.0 client');
	is($m->{body}, 'final', 'HTTP/1.0 client: final body');
}

# a close-delimited response is complete and passed intact
{
	my ($m, $c) = req('/s/close_delim');
	is($m->{status}, 200, 'close-delimited response: 200');
	if (!$m->{complete} && $c) {
		$c->closed(4);
		$m = parse_response($c->{raw}) // {};
	}
	is($m->{body}, 'until the end', 'close-delimited response: body');
}

# HEAD: Content-Length without a body; no wait for a body
{
	my $t0 = now();
	my ($m, $c) = req('/s/head', method => 'HEAD');
	my $dt = now() - $t0;
	is($m->{status}, 200, 'HEAD via proxy: 200');
	is($m->{h}{'content-length'}, 1000, 'HEAD via proxy: Content-Length');
	cmp_ok($dt, '<', 1.5, 'HEAD via proxy: no wait for a body');
	if ($c) {
		$c->send("GET /s/ok HTTP/1.1\r\nHost: localhost\r\n\r\n");
		my $m2 = $c->read_response(timeout => 5) // {};
		is($m2->{body}, 'ok', 'HEAD via proxy: connection reusable');
	} else {
		fail('HEAD via proxy: connection reusable');
	}
}

done_testing;
