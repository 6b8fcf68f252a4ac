// Steady's Android activity, and the courier's service. Dioxus.toml names this file in
// [application] android_main_activity: dx 0.7.10 writes it, as it is, in place of its own
// MainActivity.kt (package dev.dioxus.main), so the classes below ship with the app.
// platforms/android/AndroidManifest.xml declares the service, the boot receiver and
// their permissions. Nothing here can be compiled on the development machine; README.md
// ("A first run on a real phone") lists what a first run must check.
package dev.dioxus.main

import android.app.Notification
import android.app.NotificationChannel
import android.app.NotificationManager
import android.app.Service
import android.content.BroadcastReceiver
import android.content.Context
import android.content.Intent
import android.content.IntentFilter
import android.content.pm.ServiceInfo
import android.net.ConnectivityManager
import android.net.Network
import android.net.NetworkCapabilities
import android.net.NetworkRequest
import android.net.wifi.WifiManager
import android.os.BatteryManager
import android.os.Build
import android.os.Handler
import android.os.IBinder
import android.os.Looper
import java.io.File

typealias BuildConfig = app.steady.Steady.BuildConfig

class MainActivity : WryActivity() {
    /** Called from Rust (`platform::android::start_courier_service`) once paired. */
    fun startCourierService() {
        CourierService.start(this)
    }
}

/**
 * Keeps the courier running while Steady is locked, in the background or closed: a
 * foreground service of type connectedDevice, which has no time limit. The courier holds
 * no key to the journal; it carries sealed letters to and from the partner's phone and
 * the couple's home relay.
 *
 * - It runs on Wi-Fi only, and, if the person chose so on the Us screen, only while
 *   charging; "off" there stops it. The choice is in the file courier-mode: "always",
 *   "charging" or "off".
 * - Its notification says "Steady" and nothing else.
 * - It holds the multicast lock only while it discovers: a minute at a time, every five
 *   minutes. Between, the courier dials the partner's remembered addresses, since the
 *   screen-off state can drop multicast.
 */
class CourierService : Service() {
    private val main = Handler(Looper.getMainLooper())
    private var multicast: WifiManager.MulticastLock? = null
    private var onWifi = false
    private var charging = false
    private var carrying = false
    private var network: ConnectivityManager.NetworkCallback? = null

    private val power = object : BroadcastReceiver() {
        override fun onReceive(context: Context, intent: Intent) {
            charging = intent.action == Intent.ACTION_POWER_CONNECTED
            update()
        }
    }

    private val discover = object : Runnable {
        override fun run() {
            if (carrying) {
                holdMulticast(true)
                main.postDelayed({ holdMulticast(false) }, DISCOVER_FOR_MS)
            }
            main.postDelayed(this, DISCOVER_EVERY_MS)
        }
    }

    override fun onBind(intent: Intent?): IBinder? = null

    override fun onCreate() {
        super.onCreate()
        val manager = getSystemService(NotificationManager::class.java)
        manager.createNotificationChannel(
            NotificationChannel(CHANNEL, "Steady", NotificationManager.IMPORTANCE_MIN)
        )
        val notification = Notification.Builder(this, CHANNEL)
            .setContentTitle("Steady")
            .setSmallIcon(applicationInfo.icon)
            .setOngoing(true)
            .build()
        if (Build.VERSION.SDK_INT >= 29) {
            startForeground(NOTIFICATION_ID, notification, ServiceInfo.FOREGROUND_SERVICE_TYPE_CONNECTED_DEVICE)
        } else {
            startForeground(NOTIFICATION_ID, notification)
        }
        val battery = registerReceiver(null, IntentFilter(Intent.ACTION_BATTERY_CHANGED))
        charging = (battery?.getIntExtra(BatteryManager.EXTRA_PLUGGED, 0) ?: 0) != 0
        registerReceiver(power, IntentFilter().apply {
            addAction(Intent.ACTION_POWER_CONNECTED)
            addAction(Intent.ACTION_POWER_DISCONNECTED)
        })
        val connectivity = getSystemService(ConnectivityManager::class.java)
        val callback = object : ConnectivityManager.NetworkCallback() {
            override fun onAvailable(n: Network) { main.post { onWifi = true; update() } }
            override fun onLost(n: Network) { main.post { onWifi = false; update() } }
        }
        connectivity.registerNetworkCallback(
            NetworkRequest.Builder().addTransportType(NetworkCapabilities.TRANSPORT_WIFI).build(),
            callback
        )
        network = callback
        main.post(discover)
    }

    override fun onStartCommand(intent: Intent?, flags: Int, startId: Int): Int {
        update()
        return START_STICKY
    }

    override fun onDestroy() {
        main.removeCallbacksAndMessages(null)
        network?.let { getSystemService(ConnectivityManager::class.java).unregisterNetworkCallback(it) }
        unregisterReceiver(power)
        holdMulticast(false)
        nativeCarry(filesDir.absolutePath, false)
        super.onDestroy()
    }

    /**
     * What the person chose on the Us screen: "always", "charging" or "off", from
     * courier-mode, written beside the (sealed) courier profile. No file: not paired.
     */
    private fun mode(): String {
        val file = File(filesDir, "courier-mode")
        if (!file.exists()) return "off"
        return try {
            file.readText().trim()
        } catch (e: Exception) {
            "off"
        }
    }

    private fun update() {
        val mode = mode()
        if (mode == "off") {
            stopSelf()
            return
        }
        carrying = onWifi && (mode != "charging" || charging)
        if (!carrying) holdMulticast(false)
        nativeCarry(filesDir.absolutePath, carrying)
    }

    private fun holdMulticast(hold: Boolean) {
        if (hold && multicast == null) {
            val wifi = applicationContext.getSystemService(Context.WIFI_SERVICE) as WifiManager
            multicast = wifi.createMulticastLock("steady-courier").apply {
                setReferenceCounted(false)
                acquire()
            }
        } else if (!hold) {
            multicast?.release()
            multicast = null
        }
    }

    /** Rust: `Java_dev_dioxus_main_CourierService_nativeCarry` in src/platform/android.rs. */
    private external fun nativeCarry(dataDir: String, carry: Boolean)

    companion object {
        private const val CHANNEL = "steady-courier"
        private const val NOTIFICATION_ID = 1
        private const val DISCOVER_EVERY_MS = 5 * 60 * 1000L
        private const val DISCOVER_FOR_MS = 60 * 1000L

        init {
            // The service may start with no activity (after a restart): the app's code.
            System.loadLibrary("main")
        }

        fun start(context: Context) {
            context.startForegroundService(Intent(context, CourierService::class.java))
        }
    }
}

/** Starts the courier's service again after the phone restarts. */
class BootReceiver : BroadcastReceiver() {
    override fun onReceive(context: Context, intent: Intent) {
        if (intent.action == Intent.ACTION_BOOT_COMPLETED) {
            CourierService.start(context)
        }
    }
}
