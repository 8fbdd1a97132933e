# A client that hangs up while portico waits for the upstream ends the
# request: the upstream connection is closed (no work for nobody) and the
# access log says 499, as nginx does with proxy_ignore_client_abort off.

use strict;
use warnings;
use Test::More;
use Portico::Test;
use IO::Select;
use Time::HiRes qw(sleep);

my $t = Portico::Test->new;
$t->write_conf(<<'EOF');
daemon off;
pid logs/portico.pid;
error_log logs/error.log info;
events { worker_connections 64; }
http {
    %%NGINX_ONLY%%
    log_format st '$request_uri $status';
    access_log logs/st.log st;
    server {
        listen 127.0.0.1:%%PORT_A%%;
        location / { proxy_pass http://127.0.0.1:%%PORT_U%%; }
    }
}
EOF

# The backend waits up to 5 s for the proxy to hang up, then records
# whether it did (EOF seen) before it would have answered.
my $mark = $t->testdir . '/backend-saw';
$t->raw_backend('U', sub {
	my ($sock, $req) = @_;
	my $sel = IO::Select->new($sock);
	my $eof = 0;
	if ($req =~ m{^GET /gone}) {
		if ($sel->can_read(5)) {
			my $n = sysread($sock, my $buf, 1);
			$eof = defined $n && $n == 0;
		}
		open my $fh, '>', $mark or die;
		print $fh $eof ? "eof\n" : "timeout\n";
		close $fh;
	}
	print $sock "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" unless $eof;
});
$t->run;

my $c = Portico::Test::Conn->new($t->port('A'));
$c->send("GET /gone HTTP/1.1\r\nHost: localhost\r\n\r\n");
sleep 0.5;
$c->close;

ok(Portico::Test::wait_until(sub { -s $mark }, 6), 'backend finished waiting');
is($t->read_file('backend-saw'), "eof\n",
    'upstream connection closed when the client hung up');
like($t->wait_for_log('logs/st.log', qr{^/gone \d+$}m, 3),
    qr/^\/gone 499$/, 'access log records 499');

# a client that stays gets its answer
my $r = Portico::Test::http_get($t->port('A'), '/stays', timeout => 8);
like($r // '', qr/^HTTP\/1\.1 200 .*ok$/s, 'a patient client is served');

done_testing;
