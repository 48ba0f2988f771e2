import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;
import java.util.List;

/**
 * mongo-java-server 1.46 (in-memory backend) on HOST:PORT, for the wsgisession tests and benchmarks:
 * a second, independent implementation of the MongoDB wire protocol beside FerretDB.
 *
 * <pre>java -cp CLASSES:LIB/* WsgisessionMongoServer 127.0.0.1 PORT</pre>
 *
 * Runs until SIGTERM/SIGINT; the data lives in memory and dies with the process.
 */
public final class WsgisessionMongoServer {

    /**
     * Advertised as MongoDB 4.4, wire version 9. mongo-java-server's newest preset is 4.0 (wire version 7),
     * below what the drivers the suite uses accept: pymongo 4.x and the Node driver of connect-mongo both
     * refuse servers under wire version 9. The number is only a claim: it enables no command or feature on
     * the server. Whether the subset of MongoDB that mongo-java-server implements is enough for MongoStore,
     * connect-mongo and the tests is shown by the test suite passing against it, nothing else.
     */
    private static final MongoVersion ADVERTISED = new MongoVersion() {
        @Override
        public List<Integer> getVersionArray() {
            return List.of(4, 4, 0);
        }

        @Override
        public int getWireVersion() {
            return 9;
        }
    };

    private WsgisessionMongoServer() {
    }

    public static void main(String[] args) {
        if (args.length != 2) {
            System.err.println("usage: WsgisessionMongoServer HOST PORT");
            System.exit(2);
        }
        MongoServer server = new MongoServer(new MemoryBackend().version(ADVERTISED));
        server.bind(args[0], Integer.parseInt(args[1]));
        Runtime.getRuntime().addShutdownHook(new Thread(server::shutdownNow));
        System.out.println("mongo-java-server listening on " + args[0] + ":" + args[1]);
        System.out.flush();
        // netty's event loop threads are not daemons: the JVM keeps serving after main returns
    }
}
