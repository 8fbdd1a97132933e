# map (exact keys without regard to case, default, regexes with captures,
# hostnames wildcards, include, volatile, values with variables, lazy
# evaluation that leaves the location's captures alone) and
# split_clients (proportions within a few percent over thousands of keys,
# stable for a fixed key, MurmurHash2 buckets as nginx's). Both dialects.

use strict;
use warnings;
use Test::More;
use Portico::Test;

my $conf = <<'EOF';
daemon off;
worker_processes 1;
pid logs/portico.pid;
error_log logs/error.log info;
events { worker_connections 64; }
http {
    %%NGINX_ONLY%%
    access_log off;

    map $arg_k $mapped {
        default "def";
        apple "fruit";
        Carrot "veg";
        ~^num(?<n>\d+)$ "number $n";
        ~*^UP(.*)$ "up $1";
        \default "literal default";
        include map-extra.conf;
    }
    map $http_host $site {
        hostnames;
        default "other";
        example.com "exact";
        *.example.com "star";
        .example.org "dot";
        www.example.* "tail";
        www.example.com "www exact";
    }
    map $arg_s $chained { default "chained $mapped"; }
    split_clients "${arg_id}salt" $bucket {
        10% a;
        20.5% b;
        * c;
    }
    split_clients "$arg_id" $half { 50% x; }

    server {
        listen 127.0.0.1:%%PORT_A%%;
        server_name localhost;
        location /m { return 200 "$mapped\n"; }
        location /h { return 200 "$site\n"; }
        location /c { return 200 "$chained\n"; }
        location /s { return 200 "$bucket\n"; }
        location /half { return 200 "[$half]\n"; }
        location ~ ^/cap/(\w+)$ { return 200 "$1 $mapped $1\n"; }
    }
}
EOF

my @cases = (
	['/m?k=apple', "fruit\n"],
	['/m?k=APPLE', "fruit\n"],
	['/m?k=carrot', "veg\n"],
	['/m?k=pear', "def\n"],
	['/m', "def\n"],
	['/m?k=num42', "number 42\n"],
	['/m?k=upper', "up per\n"],
	['/m?k=default', "literal default\n"],
	['/m?k=included', "from include\n"],
	['/c?k=apple', "chained fruit\n"],
	# nginx leaves the map's captures in $1 here; portico restores the location's
	['/cap/xyz?k=num7', "xyz number 7 xyz\n", 'portico only'],
);
my @hosts = (
	['example.com', "exact\n"],
	['a.example.com', "star\n"],
	['a.b.example.com', "star\n"],
	['example.org', "dot\n"],
	['x.example.org', "dot\n"],
	['www.example.net', "tail\n"],
	['www.example.com', "www exact\n"],
	['nothing.test', "other\n"],
);

# MurmurHash2, seed 0, as nginx's ngx_murmur_hash2
sub murmur2 {
	my ($s) = @_;
	my $m = 0x5bd1e995;
	my $len = length $s;
	my $h = $len;
	my $mul = sub {
		my ($a, $b) = @_;
		my $lo = ($a & 0xffff) * $b;
		my $hi = (($a >> 16) * $b) & 0xffff;
		return ($lo + ($hi << 16)) & 0xffffffff;
	};
	my @b = unpack('C*', $s);
	my $i = 0;
	while ($len - $i >= 4) {
		my $k = $b[$i] | $b[$i + 1] << 8 | $b[$i + 2] << 16 | $b[$i + 3] << 24;
		$k = $mul->($k, $m);
		$k ^= $k >> 24;
		$k = $mul->($k, $m);
		$h = $mul->($h, $m);
		$h ^= $k;
		$i += 4;
	}
	my $rest = $len - $i;
	$h ^= $b[$i + 2] << 16 if $rest >= 3;
	$h ^= $b[$i + 1] << 8 if $rest >= 2;
	if ($rest >= 1) {
		$h ^= $b[$i];
		$h = $mul->($h, $m);
	}
	$h ^= $h >> 13;
	$h = $mul->($h, $m);
	$h ^= $h >> 15;
	return $h;
}

sub expected_bucket {
	my ($id) = @_;
	my $h = murmur2("${id}salt");
	return 'a' if $h < int(1000 * 0xffffffff / 10000);
	return 'b' if $h < int(3050 * 0xffffffff / 10000);
	return 'c';
}

sub run_table {
	my ($t, $label) = @_;
	my $port = $t->port('A');
	for my $c (@cases) {
		next if $c->[2] && $t->is_nginx;
		my $m = parse_response(http_get($port, $c->[0])) // {};
		is($m->{body}, $c->[1], "$label: $c->[0]");
	}
	for my $h (@hosts) {
		my $m = parse_response(http_get($port, '/h', host => $h->[0])) // {};
		is($m->{body}, $h->[1], "$label: hostnames $h->[0]");
	}

	# split_clients: 3000 keys over keep-alive connections
	my %n;
	my $agree = 0;
	my $N = 3000;
	for my $chunk (0 .. 29) {
		my @ids = map { "user$_" } ($chunk * 100) .. ($chunk * 100 + 99);
		my @r = http_keepalive($port, [map { "GET /s?id=$_ HTTP/1.1\r\nHost: x\r\n\r\n" } @ids]);
		for my $i (0 .. $#r) {
			(my $b = $r[$i]{body} // '') =~ s/\n//;
			$n{$b}++;
			$agree++ if $b eq expected_bucket($ids[$i]);
		}
	}
	is(($n{a} // 0) + ($n{b} // 0) + ($n{c} // 0), $N, "$label: split: every key bucketed");
	ok(abs(($n{a} // 0) / $N - 0.10) < 0.03, "$label: split: a ~10% ($n{a})");
	ok(abs(($n{b} // 0) / $N - 0.205) < 0.03, "$label: split: b ~20.5% ($n{b})");
	ok(abs(($n{c} // 0) / $N - 0.695) < 0.03, "$label: split: c ~69.5% ($n{c})");
	is($agree, $N, "$label: split: same buckets as MurmurHash2 (nginx)");
	my %same;
	$same{(parse_response(http_get($port, '/s?id=fixed')) // {})->{body} // ''}++ for 1 .. 5;
	is(scalar(keys %same), 1, "$label: split: stable for a fixed key");
	my %h;
	for my $id (1 .. 200) {
		$h{(parse_response(http_get($port, "/half?id=k$id")) // {})->{body} // ''}++;
	}
	ok(($h{"[x]\n"} // 0) > 60 && ($h{"[]\n"} // 0) > 60,
	    "$label: split without \"*\": the rest is empty");
}

my $t = Portico::Test->new;
$t->write_file('map-extra.conf', "included \"from include\";\n");
$t->write_conf($conf);
$t->run;
run_table($t, 'nginx dialect');

SKIP: {
	skip('nginx has no native dialect', 1) if $t->is_nginx;
	my ($rc, $dump) = $t->run_cmd('-p', $t->testdir . '/', '-c', 'portico.conf', '-T');
	$t->stop;
	$dump =~ s/\A.*?(?=^# portico: native)//ms;
	my $tn = Portico::Test->new;
	$tn->{ports} = $t->{ports};
	$tn->write_conf($dump, 'native.conf');
	$tn->{listen} = [['127.0.0.1', $t->port('A')]];
	$tn->run(conf => 'native.conf');
	run_table($tn, 'native dialect');
}

SKIP: {
	my $te = Portico::Test->new;
	skip('portico messages', 4) if $te->is_nginx;
	$te->write_conf(<<'EOF');
events { }
http {
    split_clients "$remote_addr" $v {
        60% a;
        50% b;
    }
    server { listen 127.0.0.1:%%PORT_E%%; }
}
EOF
	my ($rc, $out, $err) = $te->run_cmd('-p', $te->testdir . '/', '-c', 'portico.conf', '-t');
	isnt($rc, 0, 'split over 100%: -t fails');
	like(($out // '') . ($err // ''), qr/portico\.conf:5: .*more than 100%/,
	    'split over 100%: file:line');
	$te->write_conf(<<'EOF');
events { }
http {
    map $uri $v {
        ~^(broken "x";
    }
    server { listen 127.0.0.1:%%PORT_E%%; }
}
EOF
	($rc, $out, $err) = $te->run_cmd('-p', $te->testdir . '/', '-c', 'portico.conf', '-t');
	isnt($rc, 0, 'bad map regex: -t fails');
	like(($out // '') . ($err // ''), qr/portico\.conf:4: .*pcre2_compile/,
	    'bad map regex: file:line and PCRE2 message');
}

done_testing;
