# Round robin with a zone: the position is shared by the workers, so
# sequential requests that land on different workers (a new connection
# each, spread over 4 workers) still take turns exactly: 1:1 alternates,
# 3:1 gives 3 and 1 in every run of 4. Without a zone each worker keeps
# its own position, as nginx does, and only the totals follow the weights.

use strict;
use warnings;
use Test::More;
use Portico::Test;

my $t = Portico::Test->new;
$t->write_conf(<<'EOF');
daemon off;
worker_processes 4;
pid logs/portico.pid;
error_log logs/error.log info;
events { worker_connections 256; }
http {
    log_format w '$pid $upstream_addr';
    access_log logs/access.log w;
    upstream even {
        zone rr 64k;
        server 127.0.0.1:%%PORT_A%%;
        server 127.0.0.1:%%PORT_B%%;
    }
    upstream three {
        zone rr;
        server 127.0.0.1:%%PORT_A%% weight=3;
        server 127.0.0.1:%%PORT_B%%;
    }
    upstream local {
        server 127.0.0.1:%%PORT_A%% weight=3;
        server 127.0.0.1:%%PORT_B%%;
    }
    server {
        listen 127.0.0.1:%%PORT_L%%;
        location /even/ { proxy_pass http://even; }
        location /three/ { proxy_pass http://three; }
        location /local/ { proxy_pass http://local; }
    }
}
EOF
$t->http_backend('A', handler => sub { (200, [], 'A') });
$t->http_backend('B', handler => sub { (200, [], 'B') });
$t->run;
my $L = $t->port('L');

sub seq {
	my ($uri, $n) = @_;
	my $s = '';
	for (1 .. $n) {
		my $raw = http_get($L, $uri) // '';
		$s .= $raw =~ /\r\n\r\n(A|B)\z/ ? $1 : '?';
	}
	return $s;
}

my $even = seq('/even/', 40);
unlike($even, qr/AA|BB|\?/, "1:1 with a zone alternates across workers: $even");

my $three = seq('/three/', 40);
my ($start) = $three =~ /^(A*)B/;
my $aligned = substr($three, length($start) + 1);
my $bad = 0;
for (my $i = 0; $i + 4 <= length $aligned; $i += 4) {
	$bad++ if (substr($aligned, $i, 4) =~ tr/B//) != 1;
}
is($bad, 0, "3:1 with a zone: one B in every 4 across workers: $three");

# the requests did use several workers
my %pids;
wait_until(sub { $t->read_file('logs/access.log') =~ tr/\n// >= 80 }, 5);
$pids{(split)[0]}++ for split /\n/, $t->read_file('logs/access.log');
cmp_ok(scalar keys %pids, '>=', 2, 'spread over ' . (scalar keys %pids) . ' workers');

# without a zone: the totals still follow the weights
my $local = seq('/local/', 400);
my $a = $local =~ tr/A//;
ok($a > 250 && $a < 350, "3:1 without a zone: $a of 400 to A");

$t->stop;
done_testing;
